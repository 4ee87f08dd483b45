// Every input that once crashed a reader (found by the fuzz targets of Fuzz/ or by reading the code for them), fed to
// the same reader the target feeds: each must now be refused with a ShrinkError, not a trap. The files live in
// FuzzFindings/<target>/, named by what they do; a new finding is added by copying libFuzzer's crash file there.
import Foundation
import Shrink
import Testing

private let findings = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzFindings").path

/// The findings of one target, by file name.
private func inputs(_ target: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: "\(findings)/\(target)").sorted().map { "\(findings)/\(target)/\($0)" }
}

private func expectRefused(_ path: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
    } catch let error as ShrinkError {
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(path): not a ShrinkError: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct FuzzFindingsTests {
    @Test func modelFiles() throws {
        let files = try inputs("model")
        #expect(files.count >= 2)
        for path in files { expectRefused(path) { _ = try ShrinkModel(bytes: try readFile(path), origin: path) } }
    }

    @Test func onnxFiles() throws {
        let files = try inputs("onnx")
        #expect(files.count >= 7)
        for path in files { expectRefused(path) { _ = try importONNX(try readFile(path), file: path) } }
    }

    @Test func npzDataFiles() throws {
        let files = try inputs("npz-data")
        #expect(!files.isEmpty)
        for path in files {
            expectRefused(path) {
                let split = try DataSource.load(path)
                _ = try split.train.batch(0..<min(split.train.count, 3))
            }
        }
    }

    @Test func npyDirectories() throws {
        let directories = try inputs("npy-directory")
        #expect(!directories.isEmpty)
        for path in directories { expectRefused(path) { _ = try DataSource.load(path) } }
    }

    @Test func dataSpecs() {
        for text in ["x?=", "x?==", "x?&=&", "x?=3"] {
            expectRefused(text) { _ = try DataSpec(parsing: text) }
        }
    }
}
