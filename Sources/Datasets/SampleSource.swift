// SampleSource: where a Dataset's samples live — a Float32 tensor, raw array bytes at the source's own width (uint8
// pixels stay one byte each), an array file read on demand, or image files decoded on demand — and how one sample
// becomes Float32. A Dataset reads a batch at a time through it, so memory grows with the batch, not the dataset.
import Tensors

/// The samples of a dataset, read one at a time as Float32.
///
/// Implementations are immutable (or synchronised) so batches can be read from several threads at once.
public protocol SampleSource: Sendable {
    /// The number of samples.
    var count: Int { get }
    /// The shape of one sample as read: (D) or (C, H, W).
    var sampleShape: [Int] { get }
    /// The bytes this source keeps in memory for its samples.
    var residentBytes: Int { get }
    /// Whether reading a sample costs more than a copy (decoding or a file read), so batches are worth reading on
    /// several threads and ahead of time.
    var readsAreExpensive: Bool { get }
    /// Writes sample `index` (in `0..<count`) as `sampleShape`'s element count of Float32 at `destination`.
    func read(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws
    /// Sample `index` at its stored size, before any resizing — what augmentation crops from.
    func planes(_ index: Int) throws -> SamplePlanes
    /// A source whose samples have `shape`, when this one can produce it (image files not given a size), else nil.
    func conformed(to shape: [Int]) -> (any SampleSource)?
    /// All samples as one (N, …) tensor when the source already holds them so, else nil.
    var tensor: Tensor? { get }
}

extension SampleSource {
    public var readsAreExpensive: Bool { false }
    public func conformed(to shape: [Int]) -> (any SampleSource)? { nil }
    public var tensor: Tensor? { nil }
    /// The number of Float32 values in one sample.
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    public func planes(_ index: Int) throws -> SamplePlanes {
        var values = [Float](repeating: 0, count: sampleSize)
        try values.withUnsafeMutableBufferPointer { try read(index, into: $0.baseAddress!) }
        return SamplePlanes(shape: sampleShape, values: values)
    }
}

/// One sample as channel-major planes: `values` holds `shape`'s elements, (C, H, W) for images, (D) otherwise.
public struct SamplePlanes: Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// Samples held as one Float32 tensor (N, …).
public struct TensorSamples: SampleSource {
    private let stored: Tensor

    public init(_ tensor: Tensor) { stored = tensor }

    public var tensor: Tensor? { stored }
    public var count: Int { stored.shape.first ?? 0 }
    public var sampleShape: [Int] { Array(stored.shape.dropFirst()) }
    public var residentBytes: Int { stored.count * MemoryLayout<Float>.size }

    public func read(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let size = sampleSize
        stored.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + index * size, count: size) }
    }
}

/// How the stored elements of one sample become Float32: their numpy dtype (`|u1` bytes are divided by 255, `<f4`
/// taken as they are, `<f8` rounded to Float32) and whether images are stored channels-last (N, H, W, C).
public struct ArrayLayout: Sendable, Equatable {
    /// `|u1`, `<f4` or `<f8`.
    public var dtype: String
    /// The shape of one sample as read: (D) or (C, H, W).
    public var sampleShape: [Int]
    /// Whether images are stored (H, W, C) and read as (C, H, W).
    public var channelsLast: Bool

    /// The dtypes samples may be stored in.
    public static let dtypes = ["|u1", "<f4", "<f8"]

    /// The bytes of one stored element.
    public var elementSize: Int { dtype == "|u1" ? 1 : dtype == "<f4" ? 4 : 8 }
    /// The bytes of one stored sample.
    public var sampleBytes: Int { sampleShape.reduce(1, *) * elementSize }

    public init(dtype: String, sampleShape: [Int], channelsLast: Bool) {
        self.dtype = dtype
        self.sampleShape = sampleShape
        self.channelsLast = channelsLast
    }

    /// The layout of an array of `shape` (N first) and `dtype`: (N, H, W) images gain a channel axis, (N, H, W, C)
    /// with C of 1 or 3 and a second axis that is not is read channels-last, (N, D) and (N, C, H, W) stay.
    ///
    /// - Throws: `ShrinkError` naming `name` for another rank or dtype.
    public static func of(shape: [Int], dtype: String, name: String) throws -> ArrayLayout {
        guard dtypes.contains(dtype) else {
            throw ShrinkError(.unsupported, "\(name) has dtype \(dtype); expected uint8 images (|u1) or floats (<f4, <f8)")
        }
        guard shape.allSatisfy({ $0 >= 0 }), let sample = checkedProduct(Array(shape.dropFirst())),
              !sample.multipliedReportingOverflow(by: 8).overflow else {
            throw ShrinkError(.shape, "\(name) has shape \(shape); a sample that large cannot be held")
        }
        switch shape.count {
        case 2: return ArrayLayout(dtype: dtype, sampleShape: [shape[1]], channelsLast: false)
        case 3: return ArrayLayout(dtype: dtype, sampleShape: [1, shape[1], shape[2]], channelsLast: false)
        case 4:
            let last = [1, 3].contains(shape[3]) && ![1, 3].contains(shape[1])
            return ArrayLayout(dtype: dtype, sampleShape: last ? [shape[3], shape[1], shape[2]] : Array(shape.dropFirst()),
                               channelsLast: last)
        default:
            throw ShrinkError(.shape, "\(name) has shape \(shape); expected (N, D), (N, H, W), (N, C, H, W) or "
                + "(N, H, W, C) with C 1 or 3")
        }
    }

    /// Converts one stored sample at `raw` into Float32 at `destination`.
    public func decode(_ raw: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        let n = sampleShape.reduce(1, *)
        // Element e of the stored order lands at `target(e)`: the identity, or HWC → CHW.
        let channels = channelsLast ? sampleShape[0] : 1
        let plane = channelsLast ? n / channels : n
        @inline(__always) func target(_ e: Int) -> Int { channelsLast ? (e % channels) * plane + e / channels : e }
        switch dtype {
        case "|u1":
            let bytes = raw.assumingMemoryBound(to: UInt8.self)
            if channelsLast { for e in 0..<n { destination[target(e)] = Float(bytes[e]) / 255 } }
            else { for e in 0..<n { destination[e] = Float(bytes[e]) / 255 } }
        case "<f4":
            for e in 0..<n { destination[target(e)] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(
                fromByteOffset: 4 * e, as: UInt32.self))) }
        default:
            for e in 0..<n { destination[target(e)] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(
                fromByteOffset: 8 * e, as: UInt64.self)))) }
        }
    }
}

/// Samples kept in memory at their stored width (one byte a pixel for uint8 images), converted a sample at a time.
public struct ArraySamples: SampleSource {
    public let layout: ArrayLayout
    public let count: Int
    private let bytes: [UInt8]

    /// - Throws: `ShrinkError(.shape)` when `bytes` does not hold `count` samples of `layout`.
    public init(bytes: [UInt8], count: Int, layout: ArrayLayout) throws {
        guard bytes.count == count * layout.sampleBytes else {
            throw ShrinkError(.shape, "\(bytes.count) bytes do not hold \(count) samples of \(layout.sampleBytes) bytes")
        }
        self.bytes = bytes
        self.count = count
        self.layout = layout
    }

    public var sampleShape: [Int] { layout.sampleShape }
    public var residentBytes: Int { bytes.count }

    public func read(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws {
        bytes.withUnsafeBytes { layout.decode($0.baseAddress! + index * layout.sampleBytes, into: destination) }
    }
}

/// Samples read from an uncompressed array in a file (an `.npy`, or a stored member of an `.npz`) as they are needed,
/// with `pread`: nothing is loaded up front and nothing stays mapped, so the process's resident memory does not grow
/// with the file (the kernel's page cache may keep it, outside the process).
public struct FileSamples: SampleSource {
    public let file: ReadableFile
    public let layout: ArrayLayout
    public let count: Int
    /// Where sample 0 starts in the file.
    public let dataOffset: Int

    /// Samples `count` consecutive blocks of `layout.sampleBytes` from `dataOffset` of `file`.
    ///
    /// - Throws: `ShrinkError(.format)` when the file is shorter than the samples.
    public init(file: ReadableFile, dataOffset: Int, count: Int, layout: ArrayLayout) throws {
        let bytes = count.multipliedReportingOverflow(by: layout.sampleBytes)
        let end = dataOffset.addingReportingOverflow(bytes.partialValue)
        let needed = bytes.overflow || end.overflow || count < 0 || dataOffset < 0 ? Int.max : end.partialValue
        guard file.size >= needed else {
            throw ShrinkError(.format, "\(file.path): truncated: \(count) samples of \(layout.sampleBytes) bytes from "
                + "offset \(dataOffset) need \(needed) bytes, the file holds \(file.size)")
        }
        self.file = file
        self.layout = layout
        self.count = count
        self.dataOffset = dataOffset
    }

    /// Opens `path`; see `init(file:dataOffset:count:layout:)`.
    public init(path: String, dataOffset: Int, count: Int, layout: ArrayLayout) throws {
        try self.init(file: try ReadableFile(path), dataOffset: dataOffset, count: count, layout: layout)
    }

    public var path: String { file.path }
    public var sampleShape: [Int] { layout.sampleShape }
    public var residentBytes: Int { 0 }
    public var readsAreExpensive: Bool { true }

    public func read(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let size = layout.sampleBytes
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
        defer { raw.deallocate() }
        try file.read(into: raw, count: size, at: dataOffset + index * size)
        layout.decode(raw, into: destination)
    }
}
