// Runs the built `shrink` executable as a user would, capturing its exit status, stdout and stderr.
import Foundation
import Testing

/// The result of one `shrink` invocation.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The `shrink` binary next to this test bundle (`swift build --build-tests` builds it), or `$SHRINK_BINARY`.
func shrinkBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["SHRINK_BINARY"] { return path }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    for configuration in ["debug", "release"] {
        let path = packageRoot.appendingPathComponent(".build/\(configuration)/shrink").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return packageRoot.appendingPathComponent(".build/debug/shrink").path
}

/// The release build of `shrink` when it is there and no older than the debug build (Scripts/test.sh builds it
/// before the tests), else `shrinkBinary()`: for the few tests that run whole recipes, minutes in a debug build.
func optimizedShrinkBinary() -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let release = root.appendingPathComponent(".build/release/shrink").path
    let debug = shrinkBinary()
    func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
    guard ProcessInfo.processInfo.environment["SHRINK_BINARY"] == nil, let r = modified(release),
          r >= (modified(debug) ?? .distantPast) else { return debug }
    return release
}

/// Runs `shrink arguments…` (the debug build unless `binary` says otherwise) and waits for it.
func shrink(_ arguments: [String], environment: [String: String] = [:], binary: String? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary ?? shrinkBinary())
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// A fresh temporary directory.
func temporaryDirectory() throws -> String {
    let path = temporaryRoot + "/\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Every temporary directory of this test process lives under one root, removed when the process exits.
private let temporaryRoot: String = {
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "shrink-cli-tests-\(getpid())") }
    return NSTemporaryDirectory() + "shrink-cli-tests-\(getpid())"
}()

/// Expects a clean failure: status 1, a message on stderr containing `text`, no crash, and no file at `noFile`.
func expectFailure(_ result: CommandResult, mentioning text: String, noFile: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 1, "status \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(text), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), sourceLocation: sourceLocation)
    if let noFile {
        #expect(!FileManager.default.fileExists(atPath: noFile), "\(noFile) was left behind", sourceLocation: sourceLocation)
    }
}

/// A usage error: the argument parser's status 64 (bad options, settings a pass refuses), the message, no output.
func expectUsageError(_ result: CommandResult, mentioning text: String, noFile: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 64, "status \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(text), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), sourceLocation: sourceLocation)
    if let noFile {
        #expect(!FileManager.default.fileExists(atPath: noFile), "\(noFile) was left behind", sourceLocation: sourceLocation)
    }
}
