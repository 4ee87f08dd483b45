// Zlib: inflate (gzip, zlib, raw deflate), deflate and CRC-32 over the system zlib, for gzip-compressed IDX files and
// NPZ (ZIP) members. Deliberately left out: streaming; every caller holds the whole input in memory.
import CZlib
import Foundation
import Tensors

/// Whole-buffer compression and checksums over the system zlib.
public enum Zlib {
    /// The wrapper around a deflate stream.
    public enum Format: Sendable {
        /// No header or trailer (ZIP members); zlib `windowBits` −15.
        case raw
        /// A zlib header and Adler-32 trailer; when inflating, a gzip wrapper is accepted too (`windowBits` 15+32).
        case zlib
        /// A gzip header and CRC-32 trailer; when inflating, a zlib wrapper is accepted too (`windowBits` 15+32).
        case gzip

        var inflateWindowBits: Int32 { self == .raw ? -15 : 15 + 32 }
        var deflateWindowBits: Int32 {
            switch self {
            case .raw: return -15
            case .zlib: return 15
            case .gzip: return 15 + 16
            }
        }
    }

    /// The most bytes one inflation may produce (4 GiB), unless `SHRINK_MAX_INFLATED_BYTES` says otherwise: a
    /// compressed file that inflates past it — a deflate bomb, or data larger than Shrink should hold in memory —
    /// is refused, naming the file and the variable. Deflate itself expands at most 1032:1, which bounds every
    /// inflation by 1032 times its input too.
    public static let maximumInflatedBytes: Int = {
        if let text = getenv("SHRINK_MAX_INFLATED_BYTES").map({ String(cString: $0) }), let value = Int(text), value > 0 {
            return value
        }
        return 4 << 30
    }()

    /// Whether `bytes` starts with the gzip magic number `1f 8b`.
    public static func isGzip<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        var iterator = bytes.makeIterator()
        return iterator.next() == 0x1F && iterator.next() == 0x8B
    }

    /// Inflates a whole compressed buffer in one go into a growing output buffer.
    ///
    /// Concatenated gzip members are inflated one after another, as `gzip -d` does.
    /// - Parameters:
    ///   - expectedSize: the exact inflated size when the container records it (ZIP); more or fewer bytes is an error,
    ///     and inflation stops as soon as the output would exceed it.
    ///   - limit: the most bytes the output may have (`maximumInflatedBytes`).
    ///   - name: the file (and member) named in errors.
    /// - Throws: `ShrinkError.format` for corrupt or truncated data, naming `name`; `ShrinkError.value` when the
    ///   output would pass `limit`.
    public static func inflate(
        _ input: UnsafeRawBufferPointer, format: Format, expectedSize: Int? = nil, limit: Int = maximumInflatedBytes,
        name: String
    ) throws -> [UInt8] {
        if let expectedSize, expectedSize > limit {
            throw tooLarge(name, limit: limit, recorded: expectedSize)
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, format.inflateWindowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { throw ShrinkError(.io, "\(name): zlib could not start inflating (out of memory?)") }
        defer { inflateEnd(&stream) }

        // Deflate expands at most 1032:1, so a recorded size beyond that is a lie; never allocate past it up front.
        let ratioBound = input.count.multipliedReportingOverflow(by: 1032)
        // Concatenated gzip members each expand 1032:1 at most, so the ratio bounds the output of any stream.
        let bound = min(ratioBound.overflow ? Int.max : ratioBound.partialValue &+ 64, limit)
        // A recorded size is only a claim: start at most 8 times the input (or 1 MiB) and grow as the data really
        // inflates, so a header that lies about its size costs no memory it does not deliver.
        let first = min(expectedSize ?? initialCapacity(input, format: format), bound, max(input.count * 8, 1 << 20))
        var output = [UInt8](repeating: 0, count: max(first, 1))
        var produced = 0
        var consumed = 0
        var finished = false
        while !finished {
            if produced == output.count {
                if let expectedSize, output.count >= expectedSize {
                    throw ShrinkError(.format, "\(name): inflates to more than the \(expectedSize) bytes recorded")
                }
                if output.count >= bound {
                    if output.count >= limit { throw tooLarge(name, limit: limit, recorded: nil) }
                    throw ShrinkError(.format, "\(name): inflates to more than 1032 times its \(input.count) compressed "
                        + "bytes, which deflate cannot do: corrupt data")
                }
                let grown = min(expectedSize.map { min($0, output.count * 2) } ?? output.count * 2, bound)
                output.append(contentsOf: repeatElement(0, count: grown - output.count))
            }
            let inputChunk = min(input.count - consumed, Int(UInt32.max))
            let outputChunk = min(output.count - produced, Int(UInt32.max))
            let status = output.withUnsafeMutableBytes { buffer -> Int32 in
                stream.next_in = UnsafeMutablePointer(
                    mutating: input.baseAddress?.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = UInt32(inputChunk)
                stream.next_out = buffer.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = UInt32(outputChunk)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            consumed += inputChunk - Int(stream.avail_in)
            produced += outputChunk - Int(stream.avail_out)
            switch status {
            case Z_STREAM_END:
                // Another gzip member may follow; anything else after the end is ignored, as gzip does.
                if format != .raw, consumed + 1 < input.count,
                   isGzip(UnsafeRawBufferPointer(rebasing: input[consumed...])) {
                    inflateReset(&stream)
                } else {
                    finished = true
                }
            case Z_OK, Z_BUF_ERROR:
                if consumed == input.count && stream.avail_out > 0 {
                    throw ShrinkError(.format, "\(name): compressed data ends early after \(produced) inflated bytes "
                        + "(truncated file?)")
                }
            case Z_DATA_ERROR:
                let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw ShrinkError(.format, "\(name): corrupt compressed data (\(reason))")
            default:
                throw ShrinkError(.io, "\(name): zlib inflate failed with status \(status)")
            }
        }
        if let expectedSize, produced != expectedSize {
            throw ShrinkError(.format, "\(name): inflates to \(produced) bytes, expected \(expectedSize)")
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Inflates a whole compressed array; see `inflate(_:format:expectedSize:limit:name:)`.
    public static func inflate(
        _ input: [UInt8], format: Format, expectedSize: Int? = nil, limit: Int = maximumInflatedBytes, name: String
    ) throws -> [UInt8] {
        try input.withUnsafeBytes { try inflate($0, format: format, expectedSize: expectedSize, limit: limit, name: name) }
    }

    private static func tooLarge(_ name: String, limit: Int, recorded: Int?) -> ShrinkError {
        ShrinkError(.value, "\(name): inflates to \(recorded.map { "\($0) bytes" } ?? "more than \(limit) bytes"), over the "
            + "limit of \(limit) bytes for compressed input (a deflate bomb?); set SHRINK_MAX_INFLATED_BYTES to allow "
            + "more, or store the data uncompressed")
    }

    /// A first output size: a gzip stream records its inflated size modulo 2³² in its last four bytes, which is
    /// right for every file below 4 GiB; otherwise four times the input.
    private static func initialCapacity(_ input: UnsafeRawBufferPointer, format: Format) -> Int {
        let guess = input.count * 4 + 64
        guard format != .raw, input.count >= 18, isGzip(input) else { return guess }
        let end = input.count
        let recorded = Int(input[end - 4]) | Int(input[end - 3]) << 8 | Int(input[end - 2]) << 16 | Int(input[end - 1]) << 24
        // A deflate stream expands by at most 1032:1; a larger record is corrupt or a later member's.
        return recorded > 0 && recorded <= input.count * 1032 ? recorded : guess
    }

    /// Compresses a whole buffer in one call (default level 6).
    public static func deflate(_ input: [UInt8], format: Format, level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        let status = deflateInit2_(&stream, level, Z_DEFLATED, format.deflateWindowBits, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "zlib deflateInit2 failed with status \(status)")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 16)
        var produced = 0
        var consumed = 0
        input.withUnsafeBytes { source in
            while true {
                if produced == output.count { output.append(contentsOf: repeatElement(0, count: output.count)) }
                let inputChunk = min(source.count - consumed, Int(UInt32.max))
                let outputChunk = min(output.count - produced, Int(UInt32.max))
                let last = consumed + inputChunk == source.count
                let result = output.withUnsafeMutableBytes { buffer -> Int32 in
                    stream.next_in = UnsafeMutablePointer(
                        mutating: source.baseAddress?.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                    stream.avail_in = UInt32(inputChunk)
                    stream.next_out = buffer.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = UInt32(outputChunk)
                    return CZlib.deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
                }
                consumed += inputChunk - Int(stream.avail_in)
                produced += outputChunk - Int(stream.avail_out)
                if result == Z_STREAM_END { break }
                precondition(result == Z_OK || result == Z_BUF_ERROR, "zlib deflate failed with status \(result)")
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// The CRC-32 (ISO-HDLC, as used by ZIP and gzip) of `bytes`; `crc32("123456789") == 0xCBF43926`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return UInt32(truncatingIfNeeded: crc32_z(0, base.assumingMemoryBound(to: Bytef.self), z_size_t(bytes.count)))
    }

    /// The CRC-32 of an array; see `crc32(_:)`.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }
}
