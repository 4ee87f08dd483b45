// Tests of the zlib wrapper: CRC-32 check value, deflate/inflate round trips, truncated and corrupt input.
import Datasets
import Foundation
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

/// A deflate bomb: 16 MiB of zeros compress to about 16 KiB (1000:1). Past the limit it is refused, naming the file
/// and the variable that raises it; a recorded size past the limit is refused before inflating; a member that claims
/// far more than it holds fails on its data, not on an allocation of the claimed size.
@Test func inflationStopsAtTheLimit() throws {
    let bomb = Zlib.deflate([UInt8](repeating: 0, count: 16 << 20), format: .gzip, level: 9)
    #expect(bomb.count < 32 << 10)
    expectShrinkError(.value, containing: ["bomb.gz", "more than 4194304 bytes", "SHRINK_MAX_INFLATED_BYTES"]) {
        _ = try Zlib.inflate(bomb, format: .gzip, limit: 4 << 20, name: "bomb.gz")
    }
    #expect(try Zlib.inflate(bomb, format: .gzip, limit: 16 << 20, name: "bomb.gz").count == 16 << 20)
    let member = Zlib.deflate([UInt8](repeating: 3, count: 1000), format: .raw)
    expectShrinkError(.value, containing: ["m.npz", "inflates to 4294967296 bytes"]) {
        _ = try Zlib.inflate(member, format: .raw, expectedSize: 4 << 30, limit: 1 << 30, name: "m.npz")
    }
    expectShrinkError(.format, containing: ["1000 bytes, expected 4294967296"]) {
        _ = try Zlib.inflate(member, format: .raw, expectedSize: 4 << 30, limit: 8 << 30, name: "m.npz")
    }
    #expect(Zlib.maximumInflatedBytes == 4 << 30 || ProcessInfo.processInfo.environment["SHRINK_MAX_INFLATED_BYTES"] != nil)
}
