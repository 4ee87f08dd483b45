// NPYArray: one numpy array as raw little-endian bytes plus its shape and dtype, with conversions to Float and Int64.
// Deliberately left out: big-endian, structured, string, complex and half-precision dtypes.
import Tensors

/// A numpy array held as its raw little-endian element bytes in C (row-major) order.
///
/// `dtype` is numpy's `descr` string in canonical form: `"<f4"`, `"<f8"`, `"|u1"`, `"|i1"`, `"<i2"`, `"<u2"`, `"<i4"`,
/// `"<u4"`, `"<i8"`, `"<u8"` or `"|b1"`.
public struct NPYArray: Sendable, Equatable {
    /// The extent of each dimension; `[]` is a scalar (one element).
    public var shape: [Int]
    /// The numpy dtype `descr`, e.g. `"<f4"`.
    public var dtype: String
    /// The elements, `count × itemSize` bytes, little-endian.
    public var data: [UInt8]

    /// Creates an array from raw bytes after checking the dtype and that the byte count matches the shape.
    ///
    /// `dtype` may be any spelling numpy accepts for a supported type (`"<u1"`, `"|u1"`, `"u1"`, `"=f4"`); it is
    /// stored in canonical form.
    /// - Throws: `ShrinkError.unsupported` for other dtypes, `ShrinkError.shape` when the sizes disagree.
    public init(shape: [Int], dtype: String, data: [UInt8]) throws {
        let element = try ElementType(descr: dtype)
        guard shape.allSatisfy({ $0 >= 0 }), let count = checkedProduct(shape + [element.size]) else {
            throw ShrinkError(.shape, "array shape \(shape) with dtype \(dtype) is not a valid size")
        }
        guard count == data.count else {
            throw ShrinkError(.shape, "array of shape \(shape) and dtype \(dtype) needs \(count) bytes, got \(data.count)")
        }
        self.shape = shape
        self.dtype = element.descr
        self.data = data
    }

    /// A float32 (`<f4`) array; `shape` defaults to one dimension of `values.count`.
    public init(float32 values: [Float], shape: [Int]? = nil) {
        self.init(unchecked: shape ?? [values.count], type: .float32, count: values.count) { bytes in
            for value in values { bytes.appendLittleEndian(value.bitPattern) }
        }
    }

    /// An int64 (`<i8`) array; `shape` defaults to one dimension of `values.count`.
    public init(int64 values: [Int64], shape: [Int]? = nil) {
        self.init(unchecked: shape ?? [values.count], type: .int64, count: values.count) { bytes in
            for value in values { bytes.appendLittleEndian(value) }
        }
    }

    /// A uint8 (`|u1`) array; `shape` defaults to one dimension of `values.count`.
    public init(uint8 values: [UInt8], shape: [Int]? = nil) {
        self.init(unchecked: shape ?? [values.count], type: .uint8, count: values.count) { $0 = values }
    }

    /// A float32 array with the shape and elements of `tensor`.
    public init(_ tensor: Tensor) {
        self.init(float32: tensor.scalars, shape: tensor.shape)
    }

    private init(unchecked shape: [Int], type: ElementType, count: Int, fill: (inout [UInt8]) -> Void) {
        precondition(checkedProduct(shape) == count, "shape \(shape) does not hold \(count) elements")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * type.size)
        fill(&bytes)
        self.shape = shape
        self.dtype = type.descr
        self.data = bytes
    }

    /// The number of elements: the product of `shape`.
    public var count: Int { shape.reduce(1, *) }

    /// The elements converted to Float (integers and booleans by value; float64 rounded to nearest).
    ///
    /// - Throws: `ShrinkError.unsupported` when `dtype` is not one of the supported types.
    public func floats() throws -> [Float] {
        switch try ElementType(descr: dtype) {
        case .float32: return mapElements(UInt32.self) { Float(bitPattern: $0) }
        case .float64: return mapElements(UInt64.self) { Float(Double(bitPattern: $0)) }
        case .uint8, .bool: return mapElements(UInt8.self) { Float($0) }
        case .int8: return mapElements(Int8.self) { Float($0) }
        case .int16: return mapElements(Int16.self) { Float($0) }
        case .uint16: return mapElements(UInt16.self) { Float($0) }
        case .int32: return mapElements(Int32.self) { Float($0) }
        case .uint32: return mapElements(UInt32.self) { Float($0) }
        case .int64: return mapElements(Int64.self) { Float($0) }
        case .uint64: return mapElements(UInt64.self) { Float($0) }
        }
    }

    /// The elements of an integer or boolean array as Int64.
    ///
    /// - Throws: `ShrinkError.format` for a float array, or a uint64 element above `Int64.max`.
    public func integers() throws -> [Int64] {
        switch try ElementType(descr: dtype) {
        case .float32, .float64:
            throw ShrinkError(.format, "array has dtype \(dtype) (floating point); expected an integer dtype")
        case .uint8, .bool: return mapElements(UInt8.self) { Int64($0) }
        case .int8: return mapElements(Int8.self) { Int64($0) }
        case .int16: return mapElements(Int16.self) { Int64($0) }
        case .uint16: return mapElements(UInt16.self) { Int64($0) }
        case .int32: return mapElements(Int32.self) { Int64($0) }
        case .uint32: return mapElements(UInt32.self) { Int64($0) }
        case .int64: return mapElements(Int64.self) { $0 }
        case .uint64:
            let values = mapElements(UInt64.self) { $0 }
            if let index = values.firstIndex(where: { $0 > UInt64(Int64.max) }) {
                throw ShrinkError(.value, "element \(index) of a uint64 array is \(values[index]), above Int64.max")
            }
            return values.map { Int64($0) }
        }
    }

    /// Decodes every element as the little-endian integer `Raw` and maps it, in a tight loop over the raw bytes.
    private func mapElements<Raw: FixedWidthInteger, Result>(_: Raw.Type, _ transform: (Raw) -> Result) -> [Result] {
        let size = MemoryLayout<Raw>.size
        let elementCount = data.count / size
        return data.withUnsafeBytes { source in
            [Result](unsafeUninitializedCapacity: elementCount) { destination, initialized in
                for index in 0..<elementCount {
                    destination.initializeElement(
                        at: index, to: transform(Raw(littleEndian: source.loadUnaligned(fromByteOffset: index * size, as: Raw.self))))
                }
                initialized = elementCount
            }
        }
    }
}

/// The element types Shrink reads from NPY files.
enum ElementType: CaseIterable {
    case float32, float64, uint8, int8, int16, uint16, int32, uint32, int64, uint64, bool

    /// Parses a numpy `descr` such as `"<f4"` or `"|u1"`.
    init(descr: String) throws {
        var body = Substring(descr)
        var order: Character = "="
        if let first = body.first, "<>|=".contains(first) {
            order = first
            body = body.dropFirst()
        }
        guard let type = ElementType.allCases.first(where: { $0.code == body }) else {
            throw ShrinkError(.unsupported, "dtype '\(descr)' is not supported; expected one of "
                + ElementType.allCases.map(\.descr).joined(separator: ", "))
        }
        // '=' and no prefix mean native order, which is little-endian on every platform Shrink runs on.
        guard order != ">" || type.size == 1 else {
            throw ShrinkError(.unsupported, "dtype '\(descr)' is big-endian; only little-endian arrays are supported")
        }
        self = type
    }

    /// The kind letter and byte size, e.g. `"f4"`.
    var code: String {
        switch self {
        case .float32: return "f4"
        case .float64: return "f8"
        case .uint8: return "u1"
        case .int8: return "i1"
        case .int16: return "i2"
        case .uint16: return "u2"
        case .int32: return "i4"
        case .uint32: return "u4"
        case .int64: return "i8"
        case .uint64: return "u8"
        case .bool: return "b1"
        }
    }

    /// The bytes per element.
    var size: Int { Int(code.dropFirst())! }

    /// The canonical numpy `descr`: `|` for one-byte types, `<` otherwise.
    var descr: String { (size == 1 ? "|" : "<") + code }
}
