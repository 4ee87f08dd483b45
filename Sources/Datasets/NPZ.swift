// NPZ: numpy's `.npz` archive — a ZIP file whose members `<key>.npy` are NPY files — read into a dictionary and
// written atomically, stored (`numpy.savez`) or deflated (`numpy.savez_compressed`); or opened so that stored members
// are read from the file as needed.
import Tensors

/// Reader and writer of numpy `.npz` archives.
public enum NPZ {
    /// Reads every `.npy` member of an archive; member `x_train.npy` becomes key `x_train`.
    ///
    /// Members whose names do not end in `.npy` (and directories) are skipped, as `numpy.load` exposes only arrays
    /// under their key.
    /// - Throws: `ShrinkError` naming `path` (and the member) for a missing file, a file that is not a ZIP archive,
    ///   ZIP64, an unsupported compression method, a CRC-32 or size mismatch, or a bad NPY member.
    public static func read(contentsOf path: String) throws -> [String: NPYArray] {
        try read(data: readFile(path), name: path)
    }

    /// Parses archive bytes; `name` is the file named in errors.
    public static func read(data: [UInt8], name: String) throws -> [String: NPYArray] {
        var arrays: [String: NPYArray] = [:]
        for entry in try ZipReader.entries(of: data, name: name) where entry.name.hasSuffix(".npy") {
            let key = String(entry.name.dropLast(4))
            guard arrays[key] == nil else {
                throw ShrinkError(.format, "\(name): member \(entry.name) appears twice")
            }
            let bytes = try ZipReader.extract(entry, from: data, name: name)
            arrays[key] = try NPY.read(data: bytes, name: "\(name): member \(entry.name)")
        }
        return arrays
    }

    /// One array of an archive opened with `open(_:)`.
    public enum Member {
        /// An uncompressed member: its NPY header, and where its data starts in the file (for `FileSamples`). Its
        /// CRC-32 is not checked, as that would read it whole.
        case stored(NPY.Header, dataOffset: Int)
        /// A compressed member, inflated and checked.
        case loaded(NPYArray)
    }

    /// The `.npy` members of the archive at `path`, reading stored members' headers only and inflating the others.
    ///
    /// - Throws: as `read(contentsOf:)`.
    public static func open(_ path: String) throws -> (file: ReadableFile, members: [String: Member]) {
        let file = try ReadableFile(path)
        var members: [String: Member] = [:]
        for entry in try ZipReader.entries(of: file) where entry.name.hasSuffix(".npy") {
            let key = String(entry.name.dropLast(4)), member = "\(path): member \(entry.name)"
            guard members[key] == nil else { throw ShrinkError(.format, "\(path): member \(entry.name) appears twice") }
            let start = try ZipReader.dataOffset(of: entry, in: file)
            if entry.method == 0, entry.flags & 1 == 0, entry.compressedSize == entry.uncompressedSize {
                let header = try NPY.readHeader(try file.read(min(entry.compressedSize, 12 + NPY.maximumHeaderLength),
                                                              at: start), name: member)
                let end = header.dataOffset.addingReportingOverflow(header.byteCount)
                guard !end.overflow, end.partialValue == entry.compressedSize else {
                    throw ShrinkError(.format, "\(member): NPY data is \(max(entry.compressedSize - header.dataOffset, 0)) "
                        + "bytes, shape \(header.shape) of \(header.dtype) needs \(header.byteCount)")
                }
                members[key] = .stored(header, dataOffset: start + header.dataOffset)
            } else {
                var local = entry
                local.localHeaderOffset = 0
                let bytes = try file.read(start - entry.localHeaderOffset + entry.compressedSize, at: entry.localHeaderOffset)
                members[key] = .loaded(try NPY.read(data: try ZipReader.extract(local, from: bytes, name: path),
                                                    name: member))
            }
        }
        return (file, members)
    }

    /// The bytes of an archive holding `arrays` in order, member names `<key>.npy`.
    ///
    /// - Throws: `ShrinkError.value` for a repeated or empty key; `.unsupported` when the archive would need ZIP64.
    public static func encode(_ arrays: [(String, NPYArray)], compressed: Bool, name: String = "archive") throws -> [UInt8] {
        var seen = Set<String>()
        for (key, _) in arrays {
            guard !key.isEmpty else { throw ShrinkError(.value, "\(name): an array key is empty") }
            guard seen.insert(key).inserted else { throw ShrinkError(.value, "\(name): array key '\(key)' appears twice") }
        }
        let members = arrays.map { (name: $0.0 + ".npy", bytes: NPY.encode($0.1)) }
        return try ZipWriter.encode(members, compressed: compressed, name: name)
    }

    /// Writes `arrays` to `path` atomically (temporary file in the same directory, then rename), so `path` holds
    /// either its old contents or the whole new archive, never a part. `numpy.load` opens the result.
    ///
    /// - Parameter compressed: deflate each member, like `numpy.savez_compressed`; otherwise store, like `numpy.savez`.
    /// - Throws: the errors of `encode` and of `AtomicFile.write`, naming `path`.
    public static func write(_ arrays: [(String, NPYArray)], to path: String, compressed: Bool) throws {
        try AtomicFile.write(encode(arrays, compressed: compressed, name: path), to: path)
    }
}
