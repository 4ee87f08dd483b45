// File input and output for Datasets and the modules above it: whole-file reads whose errors name the path, and
// atomic writes (temporary file in the same directory, fsync, rename) so no reader ever sees half a file.
// Large arrays are read as needed by FileSamples (SampleSource.swift), with pread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// Reads a whole file into memory.
///
/// - Throws: `ShrinkError.io` — "no such file: PATH" when nothing is there; a message naming the path when it is a
///   directory, is not readable, or a read fails.
public func readFile(_ path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw fileError(errno, path: path, action: "read") }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw fileError(errno, path: path, action: "read") }
    if (status.st_mode & S_IFMT) == S_IFDIR {
        throw ShrinkError(.io, "cannot read \(path): it is a directory, expected a file")
    }
    // st_size is a hint (0 for some special files); the loop reads until end of file either way.
    var bytes = [UInt8](repeating: 0, count: max(Int(status.st_size), 0) + 1)
    var filled = 0
    while true {
        if filled == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 1 << 16))) }
        let got = bytes.withUnsafeMutableBytes { buffer in
            posixRead(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
        }
        if got < 0 {
            if errno == EINTR { continue }
            throw fileError(errno, path: path, action: "read")
        }
        if got == 0 { break }
        filled += got
    }
    bytes.removeSubrange(filled...)
    return bytes
}

/// Reads the first `count` bytes of a file (fewer when it is shorter): the header of an array read from the file as
/// needed.
///
/// - Throws: `ShrinkError.io` as `readFile`.
public func readFilePrefix(_ path: String, count: Int) throws -> [UInt8] {
    let file = try ReadableFile(path)
    return try file.read(min(max(count, 0), file.size), at: 0)
}

/// A file open for reads at any offset (`pread`), shared safely between threads: what arrays read from their file as
/// needed (`FileSamples`, members of an uncompressed `.npz`) hold.
public final class ReadableFile: @unchecked Sendable {
    public let path: String
    /// The file's size when it was opened.
    public let size: Int
    // Only read after init; `pread` takes its own offset.
    private let descriptor: Int32

    /// - Throws: `ShrinkError.io` naming `path` when it cannot be opened or is a directory.
    public init(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fileError(errno, path: path, action: "read") }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw fileError(code, path: path, action: "read")
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw ShrinkError(.io, "cannot read \(path): it is a directory, expected a file")
        }
        self.path = path
        self.size = Int(status.st_size)
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Reads `count` bytes at `offset` into `buffer`, retrying short reads and interruptions.
    ///
    /// - Throws: `ShrinkError.io` when the read fails or the file ends first.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
        var done = 0
        while done < count {
            let got = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw fileError(errno, path: path, action: "read")
            }
            guard got > 0 else {
                throw ShrinkError(.io, "\(path): the file ended at byte \(offset + done); it changed while being read?")
            }
            done += got
        }
    }

    /// `count` bytes at `offset`.
    public func read(_ count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        try bytes.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: $0.count, at: offset) }
        return bytes
    }
}

/// Atomic whole-file writes: readers see either the old file or the complete new one, never a part.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    ///
    /// The bytes go to a temporary file `.<name>.tmp-<pid>-<random>` in the same directory, which is flushed to disk
    /// (`fsync`) and then renamed over `path`. On any failure the temporary file is removed and `path` is untouched.
    ///
    /// - Throws: `ShrinkError.io` naming `path`, e.g. when its directory does not exist, is not a directory, or is
    ///   not writable.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let (directory, name) = splitPath(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw ShrinkError(.io, "cannot write \(path): expected a file name, not a directory")
        }
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() as UInt32, radix: 16)
        let temporary = (directory.isEmpty ? "" : directory == "/" ? "/" : directory + "/")
            + ".\(name).tmp-\(getpid())-\(suffix)"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw directoryError(errno, path: path, directory: directory.isEmpty ? "." : directory)
        }
        do {
            try writeAll(bytes, to: descriptor, path: path)
            guard fsync(descriptor) == 0 else { throw fileError(errno, path: path, action: "write") }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard close(descriptor) == 0 else {
            let code = errno
            unlink(temporary)
            throw fileError(code, path: path, action: "write")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw fileError(code, path: path, action: "write")
        }
        syncDirectory(directory.isEmpty ? "." : directory)
        removeStaleTemporaries(of: name, in: directory.isEmpty ? "." : directory)
    }

    /// Removes the temporary files of `name` that a killed process left (its pid no longer runs): a kill -9 during
    /// a write leaves `.<name>.tmp-<pid>-<random>`, never a half-written `name`; the next write of `name` tidies up.
    private static func removeStaleTemporaries(of name: String, in directory: String) {
        let prefix = ".\(name).tmp-"
        guard let stream = opendir(directory) else { return }
        var entries: [String] = []
        while let item = readdir(stream) {
            let entry = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if entry.hasPrefix(prefix) { entries.append(entry) }
        }
        closedir(stream)
        for entry in entries {
            guard let pid = entry.dropFirst(prefix.count).split(separator: "-").first.flatMap({ Int32($0) }),
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + "/" + entry)
        }
    }

    /// Writes every byte, retrying short writes and interrupted calls.
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = posixWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw fileError(errno, path: path, action: "write")
                }
                written += result
            }
        }
    }

    /// Flushes the directory entry of the rename; best effort, since some file systems refuse it.
    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    /// The error for a temporary file that could not be created, naming the target and its directory.
    private static func directoryError(_ code: Int32, path: String, directory: String) -> ShrinkError {
        switch code {
        case ENOENT: return ShrinkError(.io, "cannot write \(path): directory \(directory) does not exist")
        case ENOTDIR: return ShrinkError(.io, "cannot write \(path): \(directory) is not a directory")
        case EACCES, EPERM, EROFS:
            return ShrinkError(.io, "cannot write \(path): directory \(directory) is not writable")
        default: return fileError(code, path: path, action: "write")
        }
    }
}

/// `read(2)`, named apart from the `read` methods of this module's types.
private func posixRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// `write(2)`, named apart from `AtomicFile.write`.
private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// Splits a path into its directory ("" when there is none, "/" for the root) and its last component.
func splitPath(_ path: String) -> (directory: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    let directory = String(path[..<slash])
    return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
}

/// A `ShrinkError.io` for a failed system call on `path`, worded for the common causes.
func fileError(_ code: Int32, path: String, action: String) -> ShrinkError {
    switch code {
    case ENOENT where action == "read": return ShrinkError(.io, "no such file: \(path)")
    case ENOTDIR where action == "read": return ShrinkError(.io, "no such file: \(path) (a parent is not a directory)")
    case EACCES, EPERM: return ShrinkError(.io, "cannot \(action) \(path): permission denied")
    case EISDIR: return ShrinkError(.io, "cannot \(action) \(path): it is a directory, expected a file")
    default: return ShrinkError(.io, "cannot \(action) \(path): \(String(cString: strerror(code)))")
    }
}
