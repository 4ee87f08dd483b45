// TestSupport: temporary directories, expected-error checks and seeded test bytes shared by the Datasets tests.
import Foundation
import Testing
import Tensors

/// Runs `body` with a fresh empty directory that is removed afterwards, whatever happens.
func withTemporaryDirectory<Result>(_ body: (String) throws -> Result) throws -> Result {
    var template = Array((NSTemporaryDirectory() + "datasets-tests-XXXXXX").utf8CString)
    guard let created = mkdtemp(&template) else { throw ShrinkError(.io, "mkdtemp failed") }
    let directory = String(cString: created)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(directory)
}

/// Expects `body` to throw a `ShrinkError` of `kind` whose message contains every string of `fragments`.
func expectShrinkError(
    _ kind: ShrinkError.Kind, containing fragments: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    let error = #expect(throws: ShrinkError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    #expect(error.kind == kind, "message: \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment), "\(error.message.debugDescription) lacks \(fragment.debugDescription)",
                sourceLocation: sourceLocation)
    }
}

/// `count` bytes from a seeded generator.
func seededBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// The names in `directory`, sorted.
func listing(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

/// Writes `bytes` to `path` directly (test fixtures; the code under test writes through `AtomicFile`).
func writeFixture(_ bytes: [UInt8], to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw ShrinkError(.io, "cannot create fixture \(path)")
    }
}
