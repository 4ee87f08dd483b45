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
        try entries(tail: data, tailOffset: 0, name: name) { offset, count in Array(data[offset..<(offset + count)]) }
    }

    /// The members of the archive at `path`, reading only its end records and central directory.
    static func entries(of file: ReadableFile) throws -> [ZipEntry] {
        let tailCount = min(file.size, 22 + Int(UInt16.max))
        let tail = try file.read(tailCount, at: file.size - tailCount)
        return try entries(tail: tail, tailOffset: file.size - tailCount, name: file.path) { offset, count in
            try file.read(count, at: offset)
        }
    }

    /// Where `entry`'s data starts in `file`, from its local header.
    static func dataOffset(of entry: ZipEntry, in file: ReadableFile) throws -> Int {
        let header = try file.read(min(30, max(file.size - entry.localHeaderOffset, 0)), at: entry.localHeaderOffset)
        guard header.count == 30, header.littleEndianUInt32(at: 0) == localHeaderSignature else {
            throw ShrinkError(.format, "\(file.path): member \(entry.name): no local header at offset "
                + "\(entry.localHeaderOffset); the file is corrupt")
        }
        let start = entry.localHeaderOffset + 30 + Int(header.littleEndianUInt16(at: 26))
            + Int(header.littleEndianUInt16(at: 28))
        guard start + entry.compressedSize <= file.size else {
            throw ShrinkError(.format, "\(file.path): member \(entry.name) is truncated: expected \(entry.compressedSize) "
                + "bytes at offset \(start), the file holds \(max(0, file.size - start))")
        }
        return start
    }

    /// The members listed in the central directory of an archive whose last bytes are `tail` (starting at file offset
    /// `tailOffset`); `directory(offset, count)` reads the central directory's bytes.
    private static func entries(tail: [UInt8], tailOffset: Int, name: String,
                                directory read: (Int, Int) throws -> [UInt8]) throws -> [ZipEntry] {
        let recordSize = 22
        guard tail.count >= recordSize else {
            throw ShrinkError(.format, "\(name): not a ZIP archive (\(tail.count) bytes, too short for the "
                + "22-byte end-of-central-directory record; truncated file?)")
        }
        // The record sits at the end, followed only by a comment of at most 65535 bytes.
        let lowest = max(0, tail.count - recordSize - Int(UInt16.max))
        guard let record = stride(from: tail.count - recordSize, through: lowest, by: -1).first(where: {
            tail.littleEndianUInt32(at: $0) == endOfCentralDirectorySignature
                && $0 + recordSize + Int(tail.littleEndianUInt16(at: $0 + 20)) <= tail.count
        }) else {
            throw ShrinkError(.format, "\(name): not a ZIP archive (no end-of-central-directory record; truncated file?)")
        }
        let end = tailOffset + record
        let entryCount = Int(tail.littleEndianUInt16(at: record + 10))
        let directorySize = Int(tail.littleEndianUInt32(at: record + 12))
        let directoryOffset = Int(tail.littleEndianUInt32(at: record + 16))
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF
            || (record >= 20 && tail.littleEndianUInt32(at: record - 20) == zip64LocatorSignature) {
            throw ShrinkError(.unsupported, "\(name): ZIP64 archives are not supported (expected an archive below 4 GiB)")
        }
        guard tail.littleEndianUInt16(at: record + 4) == 0, tail.littleEndianUInt16(at: record + 6) == 0 else {
            throw ShrinkError(.unsupported, "\(name): multi-disk ZIP archives are not supported")
        }
        guard directoryOffset + directorySize <= end else {
            throw ShrinkError(.format, "\(name): the ZIP central directory (offset \(directoryOffset), \(directorySize) "
                + "bytes) lies outside the \(end) bytes before its end record; the file is truncated or corrupt")
        }
        let data = try read(directoryOffset, directorySize)
        var entries: [ZipEntry] = []
        var offset = 0
        for index in 0..<entryCount {
            guard offset + 46 <= data.count, data.littleEndianUInt32(at: offset) == centralDirectorySignature else {
                throw ShrinkError(.format, "\(name): ZIP central-directory entry \(index) at offset "
                    + "\(directoryOffset + offset) is missing or corrupt")
            }
            let nameLength = Int(data.littleEndianUInt16(at: offset + 28))
            let extraLength = Int(data.littleEndianUInt16(at: offset + 30))
            let commentLength = Int(data.littleEndianUInt16(at: offset + 32))
            let next = offset + 46 + nameLength + extraLength + commentLength
            guard next <= data.count else {
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
