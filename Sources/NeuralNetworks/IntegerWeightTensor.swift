// IntegerWeightTensor: a quantized weight as a model file stores it — symmetric integer codes of 2 to 8 bits with
// one scale per tensor or per output channel. 8-bit codes are an `I8` tensor of the weight's shape; narrower codes
// are bit-packed into a `U8` tensor (offset binary, little-endian bit order, no padding between values), so a 4-bit
// weight takes half the bytes of an 8-bit one and a 3-bit weight three eighths. One bit is a binarized weight: codes
// ±1 (bit 1 = +1, bit 0 = −1) with α per output channel as the scale. The scales are the F32 tensor
// `<name>_scale`; bits, shape and granularity sit in `__metadata__["shrink.weights"]`, keyed by tensor name.
// A file without that entry but with an I8 weight and per-channel scales (8 bits) reads as before.
import Datasets
import Foundation
import Tensors

/// A weight quantized to `bits`-bit symmetric integers: `W[i] = scales[c(i)] · values[i]`, where `c(i)` is the
/// output channel (axis 0) of element `i` when there is one scale per channel, else 0.
public struct IntegerWeightTensor: Sendable, Equatable {
    /// The metadata key holding each packed weight's encoding.
    public static let metadataKey = "shrink.weights"

    /// The weight's logical shape (`[out, …]`).
    public let shape: [Int]
    /// Codes in `-(2^(bits−1) − 1) … 2^(bits−1) − 1` (narrow, symmetric range); ±1 for one bit.
    public let values: [Int8]
    /// One scale per output channel (`shape[0]` of them) or one for the whole tensor.
    public let scales: [Float]
    public let bits: Int

    /// Whether there is a scale per output channel (else one for the tensor).
    public let isPerChannel: Bool

    /// - Throws: `ShrinkError(.value)` for bits outside 1…8, a code outside the narrow range (not ±1 for one bit), or
    ///   scales that are not positive and finite; `ShrinkError(.shape)` when the counts do not fit the shape.
    public init(shape: [Int], values: [Int8], scales: [Float], bits: Int, perChannel: Bool) throws {
        guard (1...8).contains(bits) else {
            throw ShrinkError(.value, "weight bits must be in 1…8, got \(bits)")
        }
        let count = shape.reduce(1, *), channels = shape.first ?? 1
        guard !shape.isEmpty, values.count == count, scales.count == (perChannel ? channels : 1) else {
            throw ShrinkError(.shape, "an integer weight of shape \(shape) needs \(count) values and "
                + "\(perChannel ? channels : 1) scales; got \(values.count) and \(scales.count)")
        }
        if bits == 1, let bad = values.firstIndex(where: { $0 != 1 && $0 != -1 }) {
            throw ShrinkError(.value, "binary weight code \(values[bad]) at index \(bad) is not ±1")
        }
        let limit = Int8(bits == 1 ? 1 : (1 << (bits - 1)) - 1)
        if let bad = values.firstIndex(where: { $0 < -limit || $0 > limit }) {
            throw ShrinkError(.value, "weight code \(values[bad]) at index \(bad) is outside ±\(limit) for \(bits) bits")
        }
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ShrinkError(.value, "weight scales must be positive and finite")
        }
        self.shape = shape
        self.values = values
        self.scales = scales
        self.bits = bits
        self.isPerChannel = perChannel
    }

    /// The float weight.
    public func dequantized() -> Tensor {
        let perScale = values.count / scales.count
        var scalars = [Float](repeating: 0, count: values.count)
        for (s, scale) in scales.enumerated() {
            for i in (s * perScale)..<((s + 1) * perScale) { scalars[i] = scale * Float(values[i]) }
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The bytes the codes take in a file.
    public var storedBytes: Int { bits == 8 ? values.count : (values.count * bits + 7) / 8 }

    struct Encoding: Codable, Equatable {
        var bits: Int
        var shape: [Int]
        var perChannel: Bool
        enum CodingKeys: String, CodingKey { case bits, shape, perChannel = "per_channel" }
    }

    /// Reads the weight `name` if the file stores it as integers (nil for an F32 tensor).
    ///
    /// - Throws: `ShrinkError(.format)` naming `file` and the tensor when the codes, scales or metadata do not fit.
    public static func read(_ name: String, in container: SafeTensorsFile, file: String) throws -> IntegerWeightTensor? {
        guard let stored = container.tensors[name], stored.dtype != "F32" else { return nil }
        let encodings = try encodings(in: container, file: file)
        let encoding = encodings[name] ?? Encoding(bits: 8, shape: stored.shape, perChannel: true)
        guard let scaleTensor = container.tensors[name + "_scale"] else {
            throw ShrinkError(.format, "\(file): integer tensor '\(name)' needs its scales in '\(name)_scale'")
        }
        let scales = try scaleTensor.floatTensor(name: name + "_scale", file: file).scalars
        // The metadata's shape must be one a tensor can have before any size is computed from it: the codes are
        // compared with it next, so a shape the file's bytes do not back is refused.
        guard !encoding.shape.isEmpty, encoding.shape.allSatisfy({ $0 >= 1 }),
              let count = checkedProduct(encoding.shape), count <= Int.max / 8 else {
            throw ShrinkError(.format, "\(file): tensor '\(name)' has metadata shape \(encoding.shape); expected positive "
                + "extents")
        }
        let values: [Int8]
        if encoding.bits == 8 {
            guard stored.shape == encoding.shape else {
                throw ShrinkError(.format, "\(file): tensor '\(name)' has shape \(stored.shape); metadata says \(encoding.shape)")
            }
            values = try stored.int8Values(name: name, file: file)
        } else {
            guard stored.dtype == "U8", (1...7).contains(encoding.bits),
                  stored.bytes.count == (count * encoding.bits + 7) / 8 else {
                throw ShrinkError(.format, "\(file): tensor '\(name)' should hold \(count) \(encoding.bits)-bit codes "
                    + "packed as U8 (\((count * encoding.bits + 7) / 8) bytes); it is \(stored.dtype) of "
                    + "\(stored.bytes.count) bytes")
            }
            let codes = BitPacking.unpack(stored.bytes, bits: encoding.bits, count: count)
            if encoding.bits == 1 {
                values = codes.map { $0 == 1 ? 1 : -1 }
            } else {
                let offset = 1 << (encoding.bits - 1)
                values = codes.map { Int8(Int($0) - offset) }
            }
        }
        do {
            return try IntegerWeightTensor(shape: encoding.shape, values: values, scales: scales, bits: encoding.bits,
                                           perChannel: encoding.perChannel)
        } catch let error as ShrinkError {
            throw ShrinkError(.format, "\(file): tensor '\(name)': \(error.message)")
        }
    }

    private static func encodings(in container: SafeTensorsFile, file: String) throws -> [String: Encoding] {
        guard let text = container.metadata[metadataKey] else { return [:] }
        do {
            return try JSONDecoder().decode([String: Encoding].self, from: Data(text.utf8))
        } catch {
            throw ShrinkError(.format, "\(file): metadata '\(metadataKey)' is not valid: \(error)")
        }
    }

    /// The encoding of every integer weight of a file, keyed by tensor name: bits and granularity (for reports).
    public static func storedBits(in container: SafeTensorsFile) -> [String: (bits: Int, perChannel: Bool)] {
        var result: [String: (bits: Int, perChannel: Bool)] = [:]
        let encodings = (try? encodings(in: container, file: "")) ?? [:]
        for (name, tensor) in container.tensors where tensor.dtype != "F32" && container.tensors[name + "_scale"] != nil {
            let encoding = encodings[name] ?? Encoding(bits: 8, shape: tensor.shape, perChannel: true)
            result[name] = (encoding.bits, encoding.perChannel)
        }
        return result
    }
}

extension SafeTensorsFile {
    /// Replaces the tensor `name` with `weight` (codes, then its scales right after it) and records its encoding.
    public mutating func store(_ weight: IntegerWeightTensor, as name: String) throws {
        let tensor: SafeTensor
        if weight.bits == 8 {
            tensor = SafeTensor(int8: weight.values, shape: weight.shape)
        } else {
            let offset = 1 << (weight.bits - 1)
            let codes = weight.bits == 1 ? weight.values.map { UInt8($0 > 0 ? 1 : 0) }
                                         : weight.values.map { UInt8(Int($0) + offset) }
            let packed = BitPacking.pack(codes, bits: weight.bits)
            tensor = SafeTensor(dtype: "U8", shape: [packed.count], bytes: packed)
        }
        if tensors[name] == nil { order.append(name) }
        tensors[name] = tensor
        let scaleName = name + "_scale"
        if tensors[scaleName] == nil, let position = order.firstIndex(of: name) {
            order.insert(scaleName, at: position + 1)
        }
        tensors[scaleName] = SafeTensor(Tensor(shape: [weight.scales.count], scalars: weight.scales))
        var encodings = [String: IntegerWeightTensor.Encoding]()
        if let text = metadata[IntegerWeightTensor.metadataKey] {
            encodings = (try? JSONDecoder().decode([String: IntegerWeightTensor.Encoding].self, from: Data(text.utf8))) ?? [:]
        }
        encodings[name] = .init(bits: weight.bits, shape: weight.shape, perChannel: weight.isPerChannel)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        metadata[IntegerWeightTensor.metadataKey] = String(decoding: try encoder.encode(encodings), as: UTF8.self)
    }
}

/// Packing of unsigned codes narrower than a byte into a continuous bit stream: code `i` occupies bits
/// `i·b … i·b + b − 1`, least significant first (bit `j` of the stream is bit `j mod 8` of byte `j / 8`).
public enum BitPacking {
    /// Packs `codes` (each below `2^bits`) into ⌈count·bits / 8⌉ bytes.
    public static func pack(_ codes: [UInt8], bits: Int) -> [UInt8] {
        precondition((1...8).contains(bits), "BitPacking: \(bits) bits")
        var out = [UInt8](repeating: 0, count: (codes.count * bits + 7) / 8)
        var position = 0
        for code in codes {
            let value = UInt16(code) & UInt16((1 << bits) - 1)
            let byte = position >> 3, shift = position & 7
            let shifted = value << UInt16(shift)
            out[byte] |= UInt8(truncatingIfNeeded: shifted)
            if shift + bits > 8 { out[byte + 1] |= UInt8(truncatingIfNeeded: shifted >> 8) }
            position += bits
        }
        return out
    }

    /// The first `count` codes of a packed stream.
    public static func unpack(_ bytes: [UInt8], bits: Int, count: Int) -> [UInt8] {
        precondition((1...8).contains(bits) && bytes.count * 8 >= count * bits, "BitPacking: too few bytes")
        let mask = UInt16((1 << bits) - 1)
        var out = [UInt8](repeating: 0, count: count)
        var position = 0
        for i in 0..<count {
            let byte = position >> 3, shift = position & 7
            var word = UInt16(bytes[byte])
            if shift + bits > 8 { word |= UInt16(bytes[byte + 1]) << 8 }
            out[i] = UInt8((word >> UInt16(shift)) & mask)
            position += bits
        }
        return out
    }
}
