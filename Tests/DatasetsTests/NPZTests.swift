// Tests of NPZ archives: stored and deflated round trips through files, and corrupt, truncated or unsupported archives.
import Datasets
import Testing
import Tensors

/// Three arrays of different dtypes, one of them compressible.
let sampleArrays: [(String, NPYArray)] = [
    ("x_train", NPYArray(float32: (0..<600).map { Float($0 % 7) }, shape: [10, 60])),
    ("y_train", NPYArray(int64: (0..<10).map { Int64($0 % 3) })),
    ("pixels", NPYArray(uint8: seededBytes(12), shape: [3, 2, 2])),
]

/// The byte offset of the central directory, from the end-of-central-directory record (no archive comment).
func centralDirectoryOffset(_ archive: [UInt8]) -> Int {
    let end = archive.count - 22
    return (0..<4).reduce(0) { $0 | Int(archive[end + 16 + $1]) << (8 * $1) }
}

@Test(arguments: [false, true])
func archiveRoundTripsThroughAFile(compressed: Bool) throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/data.npz"
        try NPZ.write(sampleArrays, to: path, compressed: compressed)
        #expect(listing(directory) == ["data.npz"])
        let arrays = try NPZ.read(contentsOf: path)
        #expect(arrays.count == 3)
        for (key, array) in sampleArrays { #expect(arrays[key] == array) }
    }
}

@Test func deflatedArchiveIsSmallerForCompressibleData() throws {
    let stored = try NPZ.encode(sampleArrays, compressed: false)
    let deflated = try NPZ.encode(sampleArrays, compressed: true)
    #expect(deflated.count < stored.count)
    #expect(stored.prefix(4) == [0x50, 0x4B, 0x03, 0x04])
    #expect(try NPZ.encode(sampleArrays, compressed: true) == deflated, "same arrays, same bytes")
}

@Test func overwritingAnArchiveReplacesIt() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/data.npz"
        try NPZ.write(sampleArrays, to: path, compressed: false)
        try NPZ.write([("only", NPYArray(int64: [1]))], to: path, compressed: true)
        #expect(try NPZ.read(contentsOf: path) == ["only": NPYArray(int64: [1])])
        #expect(listing(directory) == ["data.npz"])
    }
}

@Test(arguments: [false, true])
func corruptedMemberFailsItsCRC(compressed: Bool) throws {
    var archive = try NPZ.encode([("y", NPYArray(uint8: Array(repeating: 9, count: 100)))], compressed: compressed,
                                 name: "c.npz")
    if compressed {
        // Change the CRC the central directory records, since a changed deflate stream may not inflate at all.
        archive[centralDirectoryOffset(archive) + 16] ^= 0x01
    } else {
        archive[centralDirectoryOffset(archive) - 1] ^= 0x01  // the last data byte of the only member
    }
    expectShrinkError(.format, containing: ["c.npz", "y.npy", "CRC-32"]) {
        _ = try NPZ.read(data: archive, name: "c.npz")
    }
}

@Test func corruptDeflateStreamIsAnError() throws {
    var archive = try NPZ.encode([("y", NPYArray(uint8: seededBytes(2000)))], compressed: true)
    for offset in 40..<60 { archive[offset] = 0xFF }
    expectShrinkError(.format, containing: ["d.npz", "y.npy"]) { _ = try NPZ.read(data: archive, name: "d.npz") }
}

@Test func truncatedArchiveIsAnError() throws {
    let archive = try NPZ.encode(sampleArrays, compressed: true)
    for length in [archive.count - 1, archive.count / 2, 10, 0] {
        expectShrinkError(.format, containing: ["t.npz", "not a ZIP archive", "truncated"]) {
            _ = try NPZ.read(data: Array(archive.prefix(length)), name: "t.npz")
        }
    }
}

@Test func memberDataCutShortIsAnError() throws {
    // Keep the directory but claim the member is longer than the file.
    var archive = try NPZ.encode([("y", NPYArray(uint8: [1, 2, 3]))], compressed: false)
    let entry = centralDirectoryOffset(archive)
    archive[entry + 20] = 0xF0  // compressed size
    archive[entry + 24] = 0xF0  // uncompressed size
    expectShrinkError(.format, containing: ["s.npz", "y.npy", "truncated"]) { _ = try NPZ.read(data: archive, name: "s.npz") }
}

@Test func zip64AndOtherMethodsAreUnsupported() throws {
    var archive = try NPZ.encode([("y", NPYArray(uint8: [1]))], compressed: false)
    var zip64 = archive
    zip64[zip64.count - 22 + 10] = 0xFF
    zip64[zip64.count - 22 + 11] = 0xFF
    expectShrinkError(.unsupported, containing: ["z.npz", "ZIP64"]) { _ = try NPZ.read(data: zip64, name: "z.npz") }
    archive[centralDirectoryOffset(archive) + 10] = 12  // bzip2
    expectShrinkError(.unsupported, containing: ["b.npz", "method 12"]) { _ = try NPZ.read(data: archive, name: "b.npz") }
}

@Test func repeatedOrEmptyKeysAreRefused() {
    expectShrinkError(.value, containing: ["'a' appears twice"]) {
        _ = try NPZ.encode([("a", NPYArray(int64: [1])), ("a", NPYArray(int64: [2]))], compressed: false)
    }
    expectShrinkError(.value, containing: ["empty"]) { _ = try NPZ.encode([("", NPYArray(int64: [1]))], compressed: false) }
}

@Test func missingArchiveNamesThePath() {
    expectShrinkError(.io, containing: ["no such file: /nonexistent/data.npz"]) {
        _ = try NPZ.read(contentsOf: "/nonexistent/data.npz")
    }
}

@Test func failedWriteLeavesNoFile() throws {
    try withTemporaryDirectory { directory in
        let blocker = directory + "/plain-file"
        try writeFixture([1], to: blocker)
        expectShrinkError(.io, containing: [blocker + "/data.npz", "not a directory"]) {
            try NPZ.write(sampleArrays, to: blocker + "/data.npz", compressed: true)
        }
        expectShrinkError(.io, containing: [directory + "/missing/data.npz", "does not exist"]) {
            try NPZ.write(sampleArrays, to: directory + "/missing/data.npz", compressed: false)
        }
        #expect(listing(directory) == ["plain-file"])
    }
}
