// SparseWeightTensor: a pruned weight as a model file stores it — a bitmask of the nonzero positions
// (`<name>_mask`, U8, bit i of the row-major weight at bit i mod 8 of byte i / 8) and the nonzero values in order
// (`<name>_values`, F32), with the shape in `__metadata__["shrink.sparse"]`. At 95% zeros that is 1/32 + 5% of
// the dense bytes. The dense tensor `<name>` is then absent; `Model.load` rebuilds it.
import Datasets
import Foundation
import Tensors

/// A Float32 weight stored as a bitmask and its nonzero values.
public struct SparseWeightTensor: Sendable, Equatable {
    /// The metadata key holding each sparse weight's shape.
    public static let metadataKey = "shrink.sparse"

    public let shape: [Int]
    /// Bit i set where element i is nonzero.
    public let mask: [UInt8]
    public let values: [Float]

    /// The nonzeros of a dense tensor.
    public init(dense: Tensor) {
        shape = dense.shape
        var mask = [UInt8](repeating: 0, count: (dense.count + 7) / 8), values: [Float] = []
        for (i, v) in dense.scalars.enumerated() where v != 0 {
            mask[i >> 3] |= UInt8(1) << UInt8(i & 7)
            values.append(v)
        }
        self.mask = mask
        self.values = values
    }

    /// The dense tensor.
    public func dense() -> Tensor {
        let count = shape.reduce(1, *)
        var scalars = [Float](repeating: 0, count: count), next = 0
        for i in 0..<count where mask[i >> 3] & (UInt8(1) << UInt8(i & 7)) != 0 {
            scalars[i] = values[next]
            next += 1
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The bytes of the mask and values (what the file holds for it).
    public var storedBytes: Int { mask.count + 4 * values.count }

    /// Whether storing `dense` this way takes fewer bytes than F32.
    public static func pays(for dense: Tensor) -> Bool {
        let nonzeros = dense.scalars.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
        return (dense.count + 7) / 8 + 4 * nonzeros < 4 * dense.count
    }

    /// The fraction of nonzero elements.
    public var density: Double {
        let count = shape.reduce(1, *)
        return count == 0 ? 0 : Double(values.count) / Double(count)
    }

    /// Reads the weight `name` if the file stores it sparse (nil otherwise).
    ///
    /// - Throws: `ShrinkError(.format)` naming the file and tensor when the mask, values and shape do not fit.
    public static func read(_ name: String, in container: SafeTensorsFile, file: String) throws -> SparseWeightTensor? {
        guard let text = container.metadata[metadataKey] else { return nil }
        let shapes: [String: [Int]]
        do {
            shapes = try JSONDecoder().decode([String: [Int]].self, from: Data(text.utf8))
        } catch {
            throw ShrinkError(.format, "\(file): metadata '\(metadataKey)' is not valid: \(error)")
        }
        guard let shape = shapes[name] else { return nil }
        guard shape.allSatisfy({ $0 >= 1 }), let product = checkedProduct(shape), product <= Int(Int32.max),
              let mask = container.tensors[name + "_mask"], mask.dtype == "U8",
              let valuesTensor = container.tensors[name + "_values"] else {
            throw ShrinkError(.format, "\(file): sparse tensor '\(name)' needs a U8 '\(name)_mask' and F32 "
                + "'\(name)_values' and a positive shape in '\(metadataKey)'")
        }
        let count = shape.reduce(1, *)
        let values = try valuesTensor.floatTensor(name: name + "_values", file: file).scalars
        let set = mask.bytes.reduce(0) { $0 + $1.nonzeroBitCount }
        guard mask.bytes.count == (count + 7) / 8, set == values.count,
              count % 8 == 0 || mask.bytes.last! >> UInt8(count % 8) == 0 else {
            throw ShrinkError(.format, "\(file): sparse tensor '\(name)': a mask of \(mask.bytes.count) bytes with \(set) "
                + "bits set does not fit \(values.count) values of a \(shape) tensor")
        }
        return SparseWeightTensor(shape: shape, mask: mask.bytes, values: values)
    }

    private init(shape: [Int], mask: [UInt8], values: [Float]) {
        self.shape = shape
        self.mask = mask
        self.values = values
    }
}

extension SafeTensorsFile {
    /// Replaces the tensor `name` with `weight`'s mask and values (in its place in the order) and records its shape.
    public mutating func store(_ weight: SparseWeightTensor, as name: String) throws {
        let position = order.firstIndex(of: name) ?? order.count
        order.removeAll { $0 == name || $0 == name + "_mask" || $0 == name + "_values" }
        tensors[name] = nil
        tensors[name + "_mask"] = SafeTensor(dtype: "U8", shape: [weight.mask.count], bytes: weight.mask)
        tensors[name + "_values"] = SafeTensor(Tensor(shape: [weight.values.count], scalars: weight.values))
        order.insert(contentsOf: [name + "_mask", name + "_values"], at: min(position, order.count))
        var shapes = [String: [Int]]()
        if let text = metadata[SparseWeightTensor.metadataKey] {
            shapes = (try? JSONDecoder().decode([String: [Int]].self, from: Data(text.utf8))) ?? [:]
        }
        shapes[name] = weight.shape
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        metadata[SparseWeightTensor.metadataKey] = String(decoding: try encoder.encode(shapes), as: UTF8.self)
    }
}
