// SafeTensors: reading and writing the `.safetensors` container (an 8-byte little-endian header length, a JSON
// header, then raw little-endian tensor data), the format Python's `safetensors` package opens.
// Left out: dtypes other than F32, I8, U8 and I32 (the quantization issues add what they need).
import Datasets
import Foundation
import Tensors

/// One tensor of a safetensors file: dtype name, shape and its raw bytes.
public struct SafeTensor: Sendable, Equatable {
    public var dtype: String
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Bytes per element of each supported dtype.
    public static let elementSizes: [String: Int] = ["F32": 4, "I32": 4, "I8": 1, "U8": 1]

    /// Wraps a Float32 tensor.
    public init(_ tensor: Tensor) {
        dtype = "F32"
        shape = tensor.shape
        bytes = tensor.scalars.withUnsafeBytes { Array($0) }
    }

    /// Wraps int8 values (quantized weights).
    public init(int8 values: [Int8], shape: [Int]) {
        dtype = "I8"
        self.shape = shape
        bytes = values.map { UInt8(bitPattern: $0) }
    }

    /// The values of an I8 tensor; an error for other dtypes.
    public func int8Values(name: String, file: String) throws -> [Int8] {
        guard dtype == "I8" else {
            throw ShrinkError(.format, "\(file): tensor '\(name)' has dtype \(dtype), expected I8")
        }
        return bytes.map { Int8(bitPattern: $0) }
    }

    public init(dtype: String, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    /// The values as a Float32 tensor; an error for other dtypes. `name` and `file` go into messages.
    public func floatTensor(name: String, file: String) throws -> Tensor {
        guard dtype == "F32" else {
            throw ShrinkError(.format, "\(file): tensor '\(name)' has dtype \(dtype), expected F32")
        }
        var scalars = [Float](repeating: 0, count: bytes.count / 4)
        scalars.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        return Tensor(shape: shape, scalars: scalars)
    }
}

/// A parsed safetensors file: named tensors and the string metadata of `__metadata__`.
public struct SafeTensorsFile: Sendable {
    /// The largest header accepted (100 MiB); anything larger is treated as a corrupt length.
    public static let maximumHeaderLength = 100 << 20

    public var tensors: [String: SafeTensor]
    /// The order tensors are written in (and were read in, by offset).
    public var order: [String]
    public var metadata: [String: String]

    public init(tensors: [(String, SafeTensor)], metadata: [String: String]) {
        self.tensors = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        self.order = tensors.map(\.0)
        self.metadata = metadata
    }

    /// Encodes the file: header keys sorted (so equal models give equal bytes), padded with spaces to 8 bytes.
    public func encoded() throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in order {
            let t = tensors[name]!
            header[name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]]
            offset += t.bytes.count
        }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for name in order { out.append(contentsOf: tensors[name]!.bytes) }
        return out
    }

    /// Parses a file's bytes, checking the header length, every dtype, shape and offset against the data.
    /// `file` names the source in error messages.
    public static func decode(_ data: [UInt8], file: String) throws -> SafeTensorsFile {
        guard data.count >= 8 else {
            throw ShrinkError(.format, "\(file): not a safetensors file (\(data.count) bytes, expected at least 8)")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= UInt64(maximumHeaderLength) else {
            throw ShrinkError(.format, "\(file): safetensors header claims \(headerLength) bytes but the file holds \(data.count - 8) after the length field")
        }
        let headerEnd = 8 + Int(headerLength)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(data[8..<headerEnd]))
        } catch {
            throw ShrinkError(.format, "\(file): safetensors header is not valid JSON")
        }
        guard let header = parsed as? [String: Any] else {
            throw ShrinkError(.format, "\(file): safetensors header must be a JSON object")
        }
        let dataSize = data.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(name: String, begin: Int, tensor: SafeTensor)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw ShrinkError(.format, "\(file): __metadata__ must map strings to strings")
                }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw ShrinkError(.format, "\(file): tensor '\(name)' needs dtype (string), shape (integers) and data_offsets ([begin, end])")
            }
            guard let size = SafeTensor.elementSizes[dtype] else {
                throw ShrinkError(.unsupported, "\(file): tensor '\(name)' has unsupported dtype \(dtype); expected one of \(SafeTensor.elementSizes.keys.sorted().joined(separator: ", "))")
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 32 }) else {
                throw ShrinkError(.format, "\(file): tensor '\(name)' has an invalid shape \(shape)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d)
                return (r.partialValue, acc.1 || r.overflow)
            }
            let begin = offsets[0], end = offsets[1]
            let bytes = elements.multipliedReportingOverflow(by: size)
            guard !overflow, !bytes.overflow, begin >= 0, end >= begin, end <= dataSize, end - begin == bytes.partialValue else {
                throw ShrinkError(.format, "\(file): tensor '\(name)' (\(dtype) \(shape)) has data_offsets [\(begin), \(end)] that do not match its size or lie outside the \(dataSize) data bytes")
            }
            entries.append((name, begin, SafeTensor(dtype: dtype, shape: shape,
                                                    bytes: Array(data[(headerEnd + begin)..<(headerEnd + end)]))))
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        return SafeTensorsFile(tensors: entries.map { ($0.name, $0.tensor) }, metadata: metadata)
    }
}
