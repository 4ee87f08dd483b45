// Tests of the IDX reader: plain and gzip round trips, and every malformed-file error naming the file and the sizes.
import Datasets
import Testing
import Tensors

@Test func plainIDXRoundTrips() throws {
    let bytes = seededBytes(3 * 4 * 5)
    let encoded = IDX.encode(dimensions: [3, 4, 5], bytes: bytes)
    #expect(encoded.prefix(8) == [0, 0, 8, 3, 0, 0, 0, 3])
    #expect(encoded.count == 4 + 3 * 4 + 60)
    let decoded = try IDX.read(data: encoded, name: "images")
    #expect(decoded.dimensions == [3, 4, 5])
    #expect(decoded.bytes == bytes)
}

@Test func gzipIDXFileRoundTrips() throws {
    try withTemporaryDirectory { directory in
        let labels: [UInt8] = [0, 1, 2, 9, 4]
        let path = directory + "/labels-idx1-ubyte.gz"
        try writeFixture(Zlib.deflate(IDX.encode(dimensions: [5], bytes: labels), format: .gzip), to: path)
        let decoded = try IDX.read(contentsOf: path)
        #expect(decoded.dimensions == [5])
        #expect(decoded.bytes == labels)
    }
}

@Test func truncatedIDXNamesTheFileAndTheSizes() {
    let encoded = IDX.encode(dimensions: [2, 3], bytes: [1, 2, 3, 4, 5, 6])
    expectShrinkError(.format, containing: ["short.idx", "[2, 3]", "need 6 bytes", "holds 5", "truncated"]) {
        _ = try IDX.read(data: Array(encoded.dropLast()), name: "short.idx")
    }
    expectShrinkError(.format, containing: ["header.idx", "truncated IDX header", "need 16 bytes", "holds 9"]) {
        _ = try IDX.read(data: Array(IDX.encode(dimensions: [1, 1, 1], bytes: [0]).prefix(9)), name: "header.idx")
    }
    expectShrinkError(.format, containing: ["tiny.idx", "too short"]) {
        _ = try IDX.read(data: [0, 0], name: "tiny.idx")
    }
    let gzip = Zlib.deflate(encoded, format: .gzip)
    expectShrinkError(.format, containing: ["cut.gz"]) {
        _ = try IDX.read(data: Array(gzip.prefix(gzip.count - 10)), name: "cut.gz")
    }
}

@Test func extraBytesAfterTheElementsAreAnError() {
    let encoded = IDX.encode(dimensions: [2], bytes: [1, 2]) + [3]
    expectShrinkError(.format, containing: ["long.idx", "need 10 bytes", "holds 11", "extra data"]) {
        _ = try IDX.read(data: encoded, name: "long.idx")
    }
}

@Test func wrongMagicNumberIsAnError() {
    expectShrinkError(.format, containing: ["photo.png", "not an IDX file", "0x89504E47"]) {
        _ = try IDX.read(data: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], name: "photo.png")
    }
    expectShrinkError(.format, containing: ["zero.idx", "not an IDX file"]) {
        _ = try IDX.read(data: [0, 0, 8, 0], name: "zero.idx")
    }
}

@Test func nonByteElementTypesAreUnsupported() {
    expectShrinkError(.unsupported, containing: ["floats.idx", "0x0D", "float32", "0x08"]) {
        _ = try IDX.read(data: [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], name: "floats.idx")
    }
}

@Test func dimensionsClaimingMoreThanTheFileHoldsAreRejectedBeforeAllocating() {
    // 60000 × 28 × 28 images claimed, 10 bytes present.
    var claimed: [UInt8] = [0, 0, 8, 3]
    for dimension: UInt32 in [60000, 28, 28] { claimed += withUnsafeBytes(of: dimension.bigEndian, Array.init) }
    expectShrinkError(.format, containing: ["big.idx", "[60000, 28, 28]", "need 47040000 bytes", "holds 10"]) {
        _ = try IDX.read(data: claimed + Array(repeating: 0, count: 10), name: "big.idx")
    }
    // A product that overflows Int.
    let overflowing: [UInt8] = [0, 0, 8, 3] + Array(repeating: 0xFF, count: 12)
    expectShrinkError(.format, containing: ["huge.idx", "more than 2^63"]) {
        _ = try IDX.read(data: overflowing, name: "huge.idx")
    }
}

@Test func missingIDXFileNamesThePath() {
    expectShrinkError(.io, containing: ["no such file: /nonexistent/train-images-idx3-ubyte"]) {
        _ = try IDX.read(contentsOf: "/nonexistent/train-images-idx3-ubyte")
    }
}
