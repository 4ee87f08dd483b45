// Tests of whole-file reads and atomic writes: contents, overwrites, no temporary files left behind, and errors that
// name the path when the file or directory is missing or unusable.
import Datasets
import Foundation
import Testing
import Tensors

@Test func writtenBytesReadBack() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/model.bin"
        let bytes = seededBytes(200_000)
        try AtomicFile.write(bytes, to: path)
        #expect(try readFile(path) == bytes)
        try AtomicFile.write([], to: path)
        #expect(try readFile(path) == [])
        #expect(listing(directory) == ["model.bin"], "no temporary file is left behind")
    }
}

@Test func relativePathsWriteIntoTheCurrentDirectory() throws {
    try withTemporaryDirectory { directory in
        let previous = FileManager.default.currentDirectoryPath
        #expect(FileManager.default.changeCurrentDirectoryPath(directory))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try AtomicFile.write([1, 2], to: "relative.bin")
        #expect(try readFile(directory + "/relative.bin") == [1, 2])
    }
}

@Test func writingUnderAMissingDirectoryNamesIt() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/absent/out.bin"
        expectShrinkError(.io, containing: [path, "directory \(directory)/absent does not exist"]) {
            try AtomicFile.write([1], to: path)
        }
        #expect(listing(directory).isEmpty)
    }
}

@Test func writingUnderARegularFileFailsAndLeavesNothing() throws {
    try withTemporaryDirectory { directory in
        let parent = directory + "/not-a-directory"
        try writeFixture([7], to: parent)
        expectShrinkError(.io, containing: [parent + "/out.bin", "is not a directory"]) {
            try AtomicFile.write([1], to: parent + "/out.bin")
        }
        #expect(listing(directory) == ["not-a-directory"])
        #expect(try readFile(parent) == [7])
    }
}

@Test func writingOverADirectoryFailsAndRemovesTheTemporaryFile() throws {
    try withTemporaryDirectory { directory in
        let target = directory + "/taken"
        try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
        expectShrinkError(.io, containing: [target]) { try AtomicFile.write([1], to: target) }
        #expect(listing(directory) == ["taken"])
        expectShrinkError(.io, containing: ["expected a file name"]) { try AtomicFile.write([1], to: directory + "/") }
    }
}

/// Root ignores permission bits, so this case only means something for other users.
@Test(.enabled(if: geteuid() != 0, "root may write into a read-only directory"))
func writingIntoAReadOnlyDirectoryNamesIt() throws {
    try withTemporaryDirectory { directory in
        let locked = directory + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o500])
        defer { chmod(locked, 0o700) }
        expectShrinkError(.io, containing: [locked + "/out.bin", "not writable"]) {
            try AtomicFile.write([1], to: locked + "/out.bin")
        }
        #expect(listing(locked).isEmpty)
    }
}

@Test func readingAMissingFileSaysSo() {
    expectShrinkError(.io, containing: ["no such file: /nonexistent/file.bin"]) { _ = try readFile("/nonexistent/file.bin") }
}

@Test func readingADirectoryIsAnError() throws {
    try withTemporaryDirectory { directory in
        expectShrinkError(.io, containing: [directory, "is a directory"]) { _ = try readFile(directory) }
    }
}
