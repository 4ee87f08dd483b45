// IDX: the file format of MNIST and Fashion-MNIST (plain or gzip-compressed), unsigned-byte element type only.
// Layout: magic 00 00 <type> <rank>, then `rank` big-endian UInt32 dimensions, then the elements in row-major order.
// Deliberately left out: the signed, short, int, float and double element types, which no dataset Shrink reads uses.
import Tensors

/// Reader and writer of IDX files (LeCun et al., "The MNIST database of handwritten digits").
public enum IDX {
    /// The element-type byte of unsigned-byte IDX files.
    static let unsignedByteType: UInt8 = 0x08

    /// Reads an IDX file, inflating it first when it is gzip-compressed.
    ///
    /// - Returns: the dimensions (e.g. `[60000, 28, 28]`) and the elements in row-major order.
    /// - Throws: `ShrinkError` naming `path` for a missing file, bad magic number, unsupported element type, or a
    ///   size that does not match the dimensions.
    public static func read(contentsOf path: String) throws -> (dimensions: [Int], bytes: [UInt8]) {
        try read(data: readFile(path), name: path)
    }

    /// Parses IDX bytes (plain, or gzip detected by the magic `1f 8b`); `name` is the file named in errors.
    public static func read(data: [UInt8], name: String) throws -> (dimensions: [Int], bytes: [UInt8]) {
        let raw = Zlib.isGzip(data) ? try Zlib.inflate(data, format: .gzip, name: name) : data
        guard raw.count >= 4 else {
            throw ShrinkError(.format, "\(name): \(raw.count) bytes is too short for an IDX file (expected at least 4)")
        }
        let magic = raw.bigEndianUInt32(at: 0)
        guard raw[0] == 0, raw[1] == 0, raw[3] >= 1 else {
            throw ShrinkError(.format, "\(name): not an IDX file (magic number \(hex(magic)), expected 0x00000801 to "
                + "0x000008FF: two zero bytes, the type 0x08, a dimension count of at least 1)")
        }
        guard raw[2] == unsignedByteType else {
            throw ShrinkError(.unsupported, "\(name): IDX element type \(hex(UInt32(raw[2]), digits: 2)) "
                + "(\(typeName(raw[2]))) is not supported; expected unsigned bytes (0x08)")
        }
        let rank = Int(raw[3])
        let headerSize = 4 + 4 * rank
        guard raw.count >= headerSize else {
            throw ShrinkError(.format, "\(name): truncated IDX header: \(rank) dimensions need \(headerSize) bytes, "
                + "the file holds \(raw.count)")
        }
        let dimensions = (0..<rank).map { Int(raw.bigEndianUInt32(at: 4 + 4 * $0)) }
        guard let elementCount = checkedProduct(dimensions), elementCount <= raw.count - headerSize else {
            throw ShrinkError(.format, "\(name): IDX dimensions \(dimensions) need "
                + "\(checkedProduct(dimensions).map(String.init) ?? "more than 2^63") bytes after the "
                + "\(headerSize)-byte header, the file holds \(raw.count - headerSize) (truncated?)")
        }
        guard elementCount == raw.count - headerSize else {
            throw ShrinkError(.format, "\(name): IDX dimensions \(dimensions) need \(elementCount + headerSize) "
                + "bytes, the file holds \(raw.count) (extra data after the elements)")
        }
        return (dimensions, Array(raw[headerSize...]))
    }

    /// Encodes unsigned bytes as an uncompressed IDX file.
    ///
    /// - Precondition: every dimension fits in a UInt32, there are 1 to 255 of them, and their product is
    ///   `bytes.count`.
    public static func encode(dimensions: [Int], bytes: [UInt8]) -> [UInt8] {
        precondition((1...255).contains(dimensions.count), "IDX needs 1 to 255 dimensions, got \(dimensions.count)")
        precondition(dimensions.allSatisfy { (0...Int(UInt32.max)).contains($0) }, "IDX dimension out of range: \(dimensions)")
        precondition(checkedProduct(dimensions) == bytes.count, "IDX dimensions \(dimensions) do not hold \(bytes.count) bytes")
        var out: [UInt8] = [0, 0, unsignedByteType, UInt8(dimensions.count)]
        out.reserveCapacity(4 + 4 * dimensions.count + bytes.count)
        for dimension in dimensions { out.appendBigEndian(UInt32(dimension)) }
        out.append(contentsOf: bytes)
        return out
    }

    /// The name of an IDX element-type byte, for error messages.
    private static func typeName(_ type: UInt8) -> String {
        switch type {
        case 0x09: return "signed byte"
        case 0x0B: return "int16"
        case 0x0C: return "int32"
        case 0x0D: return "float32"
        case 0x0E: return "float64"
        default: return "unknown"
        }
    }
}

/// `0x` and `digits` upper-case hexadecimal digits.
func hex(_ value: UInt32, digits: Int = 8) -> String {
    let text = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
}
