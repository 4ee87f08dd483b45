// Tests of the zlib wrapper: CRC-32 check value, deflate/inflate round trips, truncated and corrupt input.
import Datasets
import Testing
import Tensors

@Test func crc32MatchesTheStandardCheckValue() {
    #expect(Zlib.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(Zlib.crc32([UInt8]()) == 0)
}

@Test(arguments: [Zlib.Format.raw, .zlib, .gzip])
func deflateThenInflateRestoresTheBytes(format: Zlib.Format) throws {
    for input in [[], Array("hello hello hello hello".utf8), seededBytes(100_000)] {
        let compressed = Zlib.deflate(input, format: format)
        #expect(try Zlib.inflate(compressed, format: format, name: "test") == input)
        #expect(try Zlib.inflate(compressed, format: format, expectedSize: input.count, name: "test") == input)
    }
}

@Test func gzipStreamsStartWithTheMagicNumber() {
    #expect(Zlib.isGzip(Zlib.deflate([1, 2, 3], format: .gzip)))
    #expect(!Zlib.isGzip(Zlib.deflate([1, 2, 3], format: .zlib)))
    #expect(!Zlib.isGzip([0x1F]))
}

@Test func concatenatedGzipMembersInflateInOrder() throws {
    let joined = Zlib.deflate(Array("first ".utf8), format: .gzip) + Zlib.deflate(Array("second".utf8), format: .gzip)
    #expect(try Zlib.inflate(joined, format: .gzip, name: "test") == Array("first second".utf8))
}

@Test func truncatedStreamIsAnError() {
    let compressed = Zlib.deflate(seededBytes(10_000), format: .gzip)
    expectShrinkError(.format, containing: ["data.gz", "ends early"]) {
        _ = try Zlib.inflate(Array(compressed.prefix(compressed.count / 2)), format: .gzip, name: "data.gz")
    }
    expectShrinkError(.format, containing: ["empty"]) {
        _ = try Zlib.inflate([], format: .raw, name: "empty")
    }
}

@Test func corruptStreamIsAnError() {
    var compressed = Zlib.deflate(Array(repeating: 7, count: 1000), format: .zlib)
    compressed[0] = 0xFF
    expectShrinkError(.format, containing: ["bad.z", "corrupt"]) {
        _ = try Zlib.inflate(compressed, format: .zlib, name: "bad.z")
    }
}

@Test func inflatingToADifferentSizeThanRecordedIsAnError() {
    let compressed = Zlib.deflate(Array(repeating: 1, count: 100), format: .raw)
    expectShrinkError(.format, containing: ["more than the 50 bytes"]) {
        _ = try Zlib.inflate(compressed, format: .raw, expectedSize: 50, name: "m")
    }
    expectShrinkError(.format, containing: ["100 bytes, expected 200"]) {
        _ = try Zlib.inflate(compressed, format: .raw, expectedSize: 200, name: "m")
    }
}
