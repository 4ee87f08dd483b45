// JSON-lines journals (architecture search, recipes): one JSON document per line, each appended whole with one
// `write` and flushed to disk before the call returns. A kill can only cut the last line, which then has no
// newline: readers skip it and `dropPartialLine` removes it before new lines are appended.
import Foundation
import Tensors

public enum JSONLines {
    /// Appends `value` as one line (sorted keys, so equal values give equal bytes), flushed to disk.
    ///
    /// - Throws: `ShrinkError(.io)` naming `path`.
    public static func append<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = Array(try encoder.encode(value))
        line.append(UInt8(ascii: "\n"))
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw ShrinkError(.io, "cannot open \(path) for appending: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw ShrinkError(.io, "cannot append to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The complete, non-empty lines of `path` with their 1-based line numbers (none when the file is missing).
    public static func lines(of path: String) throws -> [(number: Int, bytes: ArraySlice<UInt8>)] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try readFile(path)
        var result: [(number: Int, bytes: ArraySlice<UInt8>)] = []
        var start = 0, number = 1
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            if i > start { result.append((number, bytes[start..<i])) }
            start = i + 1
            number += 1
        }
        return result
    }

    /// Every complete line decoded as `T`.
    ///
    /// - Throws: `ShrinkError(.format)` naming `path` and the line that is not a `T`.
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        try lines(of: path).map { line in
            do {
                return try JSONDecoder().decode(T.self, from: Data(line.bytes))
            } catch {
                throw ShrinkError(.format, "\(path):\(line.number): not a journal record: \(error)")
            }
        }
    }

    /// Removes a last line cut short by a kill, so that appends start on a fresh line.
    public static func dropPartialLine(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let bytes = try readFile(path)
        guard let last = bytes.last, last != UInt8(ascii: "\n") else { return }
        let keep = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        try AtomicFile.write(Array(bytes[0..<keep]), to: path)
    }
}
