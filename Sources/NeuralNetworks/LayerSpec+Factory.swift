// Rebuilding layers from their specs, for loading model files. Weights start at zero and are then filled in.
import Tensors

extension LayerSpec {
    private func required(_ value: Int?, _ field: String, node: String) throws -> Int {
        guard let value, value > 0 else {
            throw ShrinkError(.format, "node '\(node)' (\(kind)): field '\(field)' must be a positive integer")
        }
        return value
    }

    /// A layer of this spec with zero weights (ones for BatchNorm's scale and variance).
    public func makeLayer(node: String) throws -> any Layer {
        switch kind {
        case "linear":
            let i = try required(inputFeatures, "input_features", node: node)
            let o = try required(outputFeatures, "output_features", node: node)
            return Linear(weight: Tensor(zeros: [o, i]), bias: (bias ?? true) ? Tensor(zeros: [o]) : nil)
        case "conv2d":
            let c = try required(inputChannels, "input_channels", node: node)
            let o = try required(outputChannels, "output_channels", node: node)
            let k = try required(kernelSize, "kernel_size", node: node)
            let g = groups ?? 1
            guard g >= 1, c % g == 0, o % g == 0 else {
                throw ShrinkError(.format, "node '\(node)' (conv2d): groups \(g) must divide \(c) input and \(o) output channels")
            }
            guard (stride ?? 1) >= 1, (padding ?? 0) >= 0 else {
                throw ShrinkError(.format, "node '\(node)' (conv2d): stride must be ≥ 1 and padding ≥ 0")
            }
            return Conv2d(weight: Tensor(zeros: [o, c / g, k, k]), bias: (bias ?? true) ? Tensor(zeros: [o]) : nil,
                          stride: stride ?? 1, padding: padding ?? 0, groups: g)
        case "batchnorm":
            let f = try required(features, "features", node: node)
            return BatchNorm(features: f, epsilon: epsilon ?? 1e-5, momentum: momentum ?? 0.1)
        case "relu": return ReLU()
        case "relu6": return ReLU6()
        case "maxpool2d", "avgpool2d":
            let k = try required(kernelSize, "kernel_size", node: node)
            let s = stride ?? k, p = padding ?? 0
            guard s >= 1, p >= 0, p <= k / 2 else {
                throw ShrinkError(.format, "node '\(node)' (\(kind)): needs stride ≥ 1 and 0 ≤ padding ≤ kernel/2")
            }
            return kind == "maxpool2d" ? MaxPool2d(kernelSize: k, stride: s, padding: p)
                                       : AvgPool2d(kernelSize: k, stride: s, padding: p)
        case "globalavgpool": return GlobalAvgPool()
        case "flatten": return Flatten()
        case "dropout":
            let p = probability ?? 0.5
            guard p >= 0, p < 1 else {
                throw ShrinkError(.format, "node '\(node)' (dropout): probability must be in [0, 1), got \(p)")
            }
            return Dropout(probability: p, seed: seed ?? 0)
        case "add": return Add()
        case "concat": return Concat()
        default:
            throw ShrinkError(.unsupported, "node '\(node)': unknown layer kind '\(kind)'")
        }
    }
}
