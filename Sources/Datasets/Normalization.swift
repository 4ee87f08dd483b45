// Normalization: a mean and standard deviation — one pair for every element, or one per channel — fitted on training
// inputs (read a batch at a time) or given, and applied to every split, so the test set is scaled with the training
// statistics.
import Tensors

/// Normalisation `x' = (x − mean) / std`, with one scalar pair or, when `channelMeans` is set, a pair per channel
/// (axis 1 of a batch: the colour channel of an image, the feature of a vector).
///
/// `fit` takes the population statistics of the training inputs, accumulated in Double:
/// `mean = Σx / n`, `std = √(Σ(x − mean)² / n)`; a constant input (`std == 0`) gets `std = 1`, an empty one is the
/// identity.
public struct Normalization: Sendable, Equatable, Codable {
    /// Subtracted from every element (0 when per-channel statistics are set).
    public var mean: Float
    /// Every centred element is divided by it; never 0 (1 when per-channel statistics are set).
    public var std: Float
    /// The mean of each channel, used instead of `mean` when set.
    public var channelMeans: [Float]?
    /// The standard deviation of each channel, used instead of `std` when set; as many as `channelMeans`.
    public var channelStds: [Float]?

    enum CodingKeys: String, CodingKey {
        case mean, std, channelMeans = "channel_means", channelStds = "channel_stds"
    }

    /// Creates a normalisation from its two statistics.
    public init(mean: Float, std: Float) {
        self.mean = mean
        self.std = std
    }

    /// A normalisation per channel.
    ///
    /// - Throws: `ShrinkError(.value)` when the lists are empty, differ in length, or hold a non-finite mean or a
    ///   standard deviation that is not positive and finite.
    public init(channelMeans: [Float], channelStds: [Float]) throws {
        self.init(mean: 0, std: 1)
        self.channelMeans = channelMeans
        self.channelStds = channelStds
        try check()
    }

    /// `mean = 0, std = 1`: leaves tensors unchanged.
    public static let identity = Normalization(mean: 0, std: 1)

    /// The number of channels it has statistics for, or nil for one scalar pair.
    public var channels: Int? { channelMeans?.count }

    /// Throws unless every mean is finite and every standard deviation positive and finite, with one per channel.
    public func check() throws {
        guard mean.isFinite, std.isFinite, std > 0 else {
            throw ShrinkError(.value, "normalization needs a finite mean and a positive std, got mean \(mean), std \(std)")
        }
        guard (channelMeans == nil) == (channelStds == nil) else {
            throw ShrinkError(.value, "normalization has per-channel means without stds or stds without means")
        }
        if let means = channelMeans, let stds = channelStds {
            guard !means.isEmpty, means.count == stds.count else {
                throw ShrinkError(.value, "normalization has \(means.count) channel means and \(stds.count) channel "
                    + "stds; expected one of each per channel")
            }
            guard means.allSatisfy(\.isFinite), stds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ShrinkError(.value, "normalization needs finite channel means and positive channel stds, got "
                    + "means \(means), stds \(stds)")
            }
        }
    }

    /// Throws unless it can apply to samples of `shape` (per-channel statistics need `shape[0]` channels).
    public func check(sampleShape shape: [Int]) throws {
        try check()
        if let channels, shape.first != channels {
            throw ShrinkError(.shape, "the normalization has statistics for \(channels) channels; the samples have "
                + "shape \(shape)")
        }
    }

    /// The mean and population standard deviation of every element of `inputs` (two passes, Double accumulation).
    public static func fit(_ inputs: Tensor) -> Normalization {
        guard inputs.count > 0 else { return .identity }
        return inputs.withUnsafeBufferPointer { values in
            var sum = 0.0
            for value in values { sum += Double(value) }
            let mean = sum / Double(values.count)
            var squares = 0.0
            for value in values {
                let centred = Double(value) - mean
                squares += centred * centred
            }
            return Normalization(mean: Float(mean), std: positive(Float((squares / Double(values.count)).squareRoot())))
        }
    }

    /// The statistics of `dataset`'s samples as read (no augmentation), one pair for all elements or one per channel,
    /// read `batchSize` samples at a time in order (by default as many as take 32 MiB as Float32, at most 1024) —
    /// the same sums in the same order as `fit(_:)` on the whole tensor, so the result is the same to the bit.
    ///
    /// - Throws: the dataset's error for a sample it cannot read.
    public static func fit(_ dataset: Dataset, perChannel: Bool = false, batchSize: Int? = nil) throws -> Normalization {
        let sampleBytes = max(1, dataset.sampleShape.reduce(1, *) * MemoryLayout<Float>.size)
        let batchSize = batchSize ?? max(1, min(1024, (32 << 20) / sampleBytes))
        var unnormalised = dataset
        unnormalised.normalization = nil
        let shape = unnormalised.sampleShape, size = shape.reduce(1, *)
        guard unnormalised.count > 0, size > 0 else { return .identity }
        let channels = perChannel ? shape[0] : 1, plane = size / channels
        let perChannelCount = Double(unnormalised.count * plane)
        func pass(_ body: (UnsafeBufferPointer<Float>) -> Void) throws {
            if let tensor = unnormalised.source.tensor, unnormalised.window == 0..<unnormalised.source.count {
                tensor.withUnsafeBufferPointer(body)
                return
            }
            var start = 0
            while start < unnormalised.count {
                let end = min(start + max(batchSize, 1), unnormalised.count)
                try unnormalised.batch(start..<end).inputs.withUnsafeBufferPointer(body)
                start = end
            }
        }
        var sums = [Double](repeating: 0, count: channels)
        try pass { values in
            if channels == 1 { for value in values { sums[0] += Double(value) } }
            else { for (e, value) in values.enumerated() { sums[(e / plane) % channels] += Double(value) } }
        }
        let means = sums.map { $0 / perChannelCount }
        var squares = [Double](repeating: 0, count: channels)
        try pass { values in
            if channels == 1 {
                let mean = means[0]
                for value in values {
                    let centred = Double(value) - mean
                    squares[0] += centred * centred
                }
            } else {
                for (e, value) in values.enumerated() {
                    let c = (e / plane) % channels, centred = Double(value) - means[c]
                    squares[c] += centred * centred
                }
            }
        }
        let stds = squares.map { positive(Float(($0 / perChannelCount).squareRoot())) }
        if !perChannel { return Normalization(mean: Float(means[0]), std: stds[0]) }
        return try Normalization(channelMeans: means.map { Float($0) }, channelStds: stds)
    }

    private static func positive(_ std: Float) -> Float { std > 0 && std.isFinite ? std : 1 }

    /// Replaces every element `x` of `tensor` (N, C, …) with `(x − mean) / std`, per channel when set.
    ///
    /// - Throws: `ShrinkError(.shape)` when per-channel statistics do not match axis 1 of `tensor`.
    public func apply(to tensor: inout Tensor) throws {
        guard let means = channelMeans, let stds = channelStds else {
            let mean = mean, std = std
            tensor.withUnsafeMutableBufferPointer { values in
                for index in values.indices { values[index] = (values[index] - mean) / std }
            }
            return
        }
        guard tensor.rank >= 2, tensor.shape[1] == means.count else {
            throw ShrinkError(.shape, "the normalization has statistics for \(means.count) channels; the inputs have "
                + "shape \(tensor.shape)")
        }
        let plane = tensor.shape.dropFirst(2).reduce(1, *), channels = means.count
        tensor.withUnsafeMutableBufferPointer { values in
            for block in 0..<(values.count / max(plane, 1)) {
                let c = block % channels, mean = means[c], std = stds[c]
                for index in (block * plane)..<((block + 1) * plane) { values[index] = (values[index] - mean) / std }
            }
        }
    }
}
