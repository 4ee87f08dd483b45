// NPZ: numpy's `.npz` archive — a ZIP file whose members `<key>.npy` are NPY files — read into a dictionary and
// written atomically, stored (`numpy.savez`) or deflated (`numpy.savez_compressed`).
// Deliberately left out: lazy loading; every array is read when the archive is opened.
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
