// ZipWriter: builds a ZIP archive in memory from named members, stored or deflated, as numpy's `savez` and
// `savez_compressed` do. Timestamps are fixed at 1980-01-01 00:00 so the same members give the same bytes.
// Deliberately left out: ZIP64 (archives of 4 GiB or more, or 65535 members or more, are refused).
import Tensors

/// Writing ZIP archives. Layouts follow PKWARE's APPNOTE.TXT.
enum ZipWriter {
    /// "Version needed to extract" 2.0: deflate.
    static let version: UInt16 = 20
    /// MS-DOS date of 1980-01-01: (year − 1980) << 9 | month << 5 | day.
    static let dosDate: UInt16 = 1 << 5 | 1

    /// The archive holding `members` in order, each stored (method 0) or raw-deflated (method 8).
    ///
    /// - Throws: `ShrinkError.unsupported` when the archive would need ZIP64.
    static func encode(_ members: [(name: String, bytes: [UInt8])], compressed: Bool, name: String) throws -> [UInt8] {
        guard members.count < 0xFFFF else {
            throw ShrinkError(.unsupported, "\(name): \(members.count) members need ZIP64, which is not supported")
        }
        var archive: [UInt8] = []
        var directory: [UInt8] = []
        for member in members {
            let payload = compressed ? Zlib.deflate(member.bytes, format: .raw) : member.bytes
            let offset = archive.count
            guard payload.count < 0xFFFF_FFFF, member.bytes.count < 0xFFFF_FFFF, offset < 0xFFFF_FFFF else {
                throw ShrinkError(.unsupported, "\(name): member \(member.name) would need ZIP64 (4 GiB or more), "
                    + "which is not supported")
            }
            let nameBytes = Array(member.name.utf8)
            let header = LocalFields(
                flags: nameBytes.allSatisfy { $0 < 0x80 } ? 0 : 1 << 11,  // bit 11: the name is UTF-8
                method: compressed ? 8 : 0, crc32: Zlib.crc32(member.bytes),
                compressedSize: UInt32(payload.count), uncompressedSize: UInt32(member.bytes.count),
                nameLength: UInt16(nameBytes.count))

            archive.appendLittleEndian(ZipReader.localHeaderSignature)
            header.append(to: &archive)
            archive.appendLittleEndian(UInt16(0))  // extra field length
            archive.append(contentsOf: nameBytes)
            archive.append(contentsOf: payload)

            directory.appendLittleEndian(ZipReader.centralDirectorySignature)
            directory.appendLittleEndian(version)  // version made by: 2.0, MS-DOS attributes
            header.append(to: &directory)
            directory.appendLittleEndian(UInt16(0))  // extra field length
            directory.appendLittleEndian(UInt16(0))  // comment length
            directory.appendLittleEndian(UInt16(0))  // disk number
            directory.appendLittleEndian(UInt16(0))  // internal attributes
            directory.appendLittleEndian(UInt32(0))  // external attributes
            directory.appendLittleEndian(UInt32(offset))
            directory.append(contentsOf: nameBytes)
        }
        let directoryOffset = archive.count
        guard directoryOffset + directory.count < 0xFFFF_FFFF else {
            throw ShrinkError(.unsupported, "\(name): the archive would reach 4 GiB and need ZIP64, which is not supported")
        }
        archive.append(contentsOf: directory)
        archive.appendLittleEndian(ZipReader.endOfCentralDirectorySignature)
        archive.appendLittleEndian(UInt16(0))  // this disk
        archive.appendLittleEndian(UInt16(0))  // disk of the central directory
        archive.appendLittleEndian(UInt16(members.count))
        archive.appendLittleEndian(UInt16(members.count))
        archive.appendLittleEndian(UInt32(directory.count))
        archive.appendLittleEndian(UInt32(directoryOffset))
        archive.appendLittleEndian(UInt16(0))  // comment length
        return archive
    }

    /// The fields a local header and a central-directory entry share, from "version needed" to "file name length".
    private struct LocalFields {
        var flags: UInt16
        var method: UInt16
        var crc32: UInt32
        var compressedSize: UInt32
        var uncompressedSize: UInt32
        var nameLength: UInt16

        func append(to bytes: inout [UInt8]) {
            bytes.appendLittleEndian(ZipWriter.version)
            bytes.appendLittleEndian(flags)
            bytes.appendLittleEndian(method)
            bytes.appendLittleEndian(UInt16(0))  // time 00:00:00
            bytes.appendLittleEndian(ZipWriter.dosDate)
            bytes.appendLittleEndian(crc32)
            bytes.appendLittleEndian(compressedSize)
            bytes.appendLittleEndian(uncompressedSize)
            bytes.appendLittleEndian(nameLength)
        }
    }
}
