// ZipReader: lists and extracts the members of a ZIP archive (the container of numpy's `.npz`) through its central
// directory, for members stored (method 0) or deflated (method 8), checking sizes and CRC-32.
// Deliberately left out: ZIP64, encryption, multi-disk archives and other compression methods (each a clear error).
import Tensors

/// One member of a ZIP archive, as its central-directory entry describes it.
struct ZipEntry: Equatable {
    var name: String
    var method: UInt16
    var flags: UInt16
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
}

/// Reading ZIP archives held in memory. Signatures and layouts follow PKWARE's APPNOTE.TXT.
enum ZipReader {
    static let endOfCentralDirectorySignature: UInt32 = 0x0605_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let centralDirectorySignature: UInt32 = 0x0201_4B50
    static let localHeaderSignature: UInt32 = 0x0403_4B50

    /// The members listed in the central directory, found through the end-of-central-directory record.
    static func entries(of data: [UInt8], name: String) throws -> [ZipEntry] {
        let recordSize = 22
        guard data.count >= recordSize else {
            throw ShrinkError(.format, "\(name): not a ZIP archive (\(data.count) bytes, too short for the "
                + "22-byte end-of-central-directory record; truncated file?)")
        }
        // The record sits at the end, followed only by a comment of at most 65535 bytes.
        let lowest = max(0, data.count - recordSize - Int(UInt16.max))
        guard let end = stride(from: data.count - recordSize, through: lowest, by: -1).first(where: {
            data.littleEndianUInt32(at: $0) == endOfCentralDirectorySignature
                && $0 + recordSize + Int(data.littleEndianUInt16(at: $0 + 20)) <= data.count
        }) else {
            throw ShrinkError(.format, "\(name): not a ZIP archive (no end-of-central-directory record; truncated file?)")
        }
        let entryCount = Int(data.littleEndianUInt16(at: end + 10))
        let directorySize = Int(data.littleEndianUInt32(at: end + 12))
        let directoryOffset = Int(data.littleEndianUInt32(at: end + 16))
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF
            || (end >= 20 && data.littleEndianUInt32(at: end - 20) == zip64LocatorSignature) {
            throw ShrinkError(.unsupported, "\(name): ZIP64 archives are not supported (expected an archive below 4 GiB)")
        }
        guard data.littleEndianUInt16(at: end + 4) == 0, data.littleEndianUInt16(at: end + 6) == 0 else {
            throw ShrinkError(.unsupported, "\(name): multi-disk ZIP archives are not supported")
        }
        guard directoryOffset + directorySize <= end else {
            throw ShrinkError(.format, "\(name): the ZIP central directory (offset \(directoryOffset), \(directorySize) "
                + "bytes) lies outside the \(end) bytes before its end record; the file is truncated or corrupt")
        }
        var entries: [ZipEntry] = []
        var offset = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for index in 0..<entryCount {
            guard offset + 46 <= directoryEnd, data.littleEndianUInt32(at: offset) == centralDirectorySignature else {
                throw ShrinkError(.format, "\(name): ZIP central-directory entry \(index) at offset \(offset) is "
                    + "missing or corrupt")
            }
            let nameLength = Int(data.littleEndianUInt16(at: offset + 28))
            let extraLength = Int(data.littleEndianUInt16(at: offset + 30))
            let commentLength = Int(data.littleEndianUInt16(at: offset + 32))
            let next = offset + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else {
                throw ShrinkError(.format, "\(name): ZIP central-directory entry \(index) runs past the directory")
            }
            let entry = ZipEntry(
                name: String(decoding: data[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self),
                method: data.littleEndianUInt16(at: offset + 10),
                flags: data.littleEndianUInt16(at: offset + 8),
                crc32: data.littleEndianUInt32(at: offset + 16),
                compressedSize: Int(data.littleEndianUInt32(at: offset + 20)),
                uncompressedSize: Int(data.littleEndianUInt32(at: offset + 24)),
                localHeaderOffset: Int(data.littleEndianUInt32(at: offset + 42)))
            if entry.compressedSize == 0xFFFF_FFFF || entry.uncompressedSize == 0xFFFF_FFFF
                || entry.localHeaderOffset == 0xFFFF_FFFF {
                throw ShrinkError(.unsupported, "\(name): member \(entry.name) uses ZIP64 sizes, which are not supported")
            }
            entries.append(entry)
            offset = next
        }
        return entries
    }

    /// The uncompressed bytes of `entry`, after checking its local header, sizes and CRC-32.
    static func extract(_ entry: ZipEntry, from data: [UInt8], name: String) throws -> [UInt8] {
        let member = "\(name): member \(entry.name)"
        guard entry.flags & 1 == 0 else { throw ShrinkError(.unsupported, "\(member) is encrypted") }
        let offset = entry.localHeaderOffset
        guard offset + 30 <= data.count, data.littleEndianUInt32(at: offset) == localHeaderSignature else {
            throw ShrinkError(.format, "\(member): no local header at offset \(offset); the file is corrupt")
        }
        let start = offset + 30 + Int(data.littleEndianUInt16(at: offset + 26)) + Int(data.littleEndianUInt16(at: offset + 28))
        guard start + entry.compressedSize <= data.count else {
            throw ShrinkError(.format, "\(member) is truncated: expected \(entry.compressedSize) bytes at offset "
                + "\(start), the file holds \(max(0, data.count - start))")
        }
        let bytes: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw ShrinkError(.format, "\(member) is stored but its sizes differ (\(entry.compressedSize) and "
                    + "\(entry.uncompressedSize) bytes)")
            }
            bytes = Array(data[start..<(start + entry.compressedSize)])
        case 8:
            bytes = try data.withUnsafeBytes { all in
                try Zlib.inflate(UnsafeRawBufferPointer(rebasing: all[start..<(start + entry.compressedSize)]),
                                 format: .raw, expectedSize: entry.uncompressedSize, name: member)
            }
        default:
            throw ShrinkError(.unsupported, "\(member) uses compression method \(entry.method); expected 0 (stored) "
                + "or 8 (deflate)")
        }
        let crc = Zlib.crc32(bytes)
        guard crc == entry.crc32 else {
            throw ShrinkError(.format, "\(member) fails its CRC-32 check (recorded \(hex(entry.crc32)), computed "
                + "\(hex(crc))); the file is corrupt")
        }
        return bytes
    }
}
