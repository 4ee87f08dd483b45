// Rebuilding layers from their specs and stored tensors, for loading model files. Every hyper-parameter is checked
// and every tensor's shape is compared with the spec before anything is built, so a crafted file cannot make the
// loader allocate from untrusted sizes or trap later in forward.
import Tensors

extension LayerSpec {
    /// The largest kernel, stride or padding accepted from a file.
    public static let maximumWindow = 4096

    private func required(_ value: Int?, _ field: String, node: String, maximum: Int = Int(Int32.max)) throws -> Int {
        guard let value, value > 0, value <= maximum else {
            throw ShrinkError(.format, "node '\(node)' (\(kind)): field '\(field)' must be an integer in 1…\(maximum)")
        }
        return value
    }

    private func window(_ value: Int?, default fallback: Int, _ field: String, node: String, minimum: Int) throws -> Int {
        let v = value ?? fallback
        guard v >= minimum, v <= LayerSpec.maximumWindow else {
            throw ShrinkError(.format, "node '\(node)' (\(kind)): field '\(field)' must be in \(minimum)…\(LayerSpec.maximumWindow), got \(v)")
        }
        return v
    }

    /// Builds the layer of this spec around its stored tensors. `tensor(name)` returns the stored value of
    /// `<node>.<name>` (or throws when it is missing); its shape must be the one the spec implies.
    public func makeLayer(node: String, tensor: (String) throws -> Tensor) throws -> any Layer {
        func stored(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try tensor(name)
            guard t.shape == shape else {
                throw ShrinkError(.shape, "tensor '\(node).\(name)' has shape \(t.shape), the \(kind) layer needs \(shape)")
            }
            return t
        }
        if let function = PointwiseFunction(rawValue: kind) {
            do {
                return try PointwiseActivation(function, alpha: alpha, beta: beta)
            } catch let error as ShrinkError {
                throw ShrinkError(.format, "node '\(node)': \(error.message)")
            }
        }
        switch kind {
        case "linear":
            let i = try required(inputFeatures, "input_features", node: node)
            let o = try required(outputFeatures, "output_features", node: node)
            return Linear(weight: try stored("weight", [o, i]), bias: (bias ?? true) ? try stored("bias", [o]) : nil)
        case "conv2d":
            let c = try required(inputChannels, "input_channels", node: node)
            let o = try required(outputChannels, "output_channels", node: node)
            let k = try required(kernelSize, "kernel_size", node: node, maximum: LayerSpec.maximumWindow)
            let g = groups ?? 1
            guard g >= 1, c % g == 0, o % g == 0 else {
                throw ShrinkError(.format, "node '\(node)' (conv2d): groups \(g) must divide \(c) input and \(o) output channels")
            }
            let s = try window(stride, default: 1, "stride", node: node, minimum: 1)
            let p = try window(padding, default: 0, "padding", node: node, minimum: 0)
            return Conv2d(weight: try stored("weight", [o, c / g, k, k]),
                          bias: (bias ?? true) ? try stored("bias", [o]) : nil, stride: s, padding: p, groups: g)
        case "binary_linear":
            let i = try required(inputFeatures, "input_features", node: node)
            let o = try required(outputFeatures, "output_features", node: node)
            return try BinaryLinear(weight: try stored("weight", [o, i]),
                                bias: (bias ?? true) ? try stored("bias", [o]) : nil)
        case "binary_conv2d":
            let c = try required(inputChannels, "input_channels", node: node)
            let o = try required(outputChannels, "output_channels", node: node)
            let k = try required(kernelSize, "kernel_size", node: node, maximum: LayerSpec.maximumWindow)
            guard (groups ?? 1) == 1 else {
                throw ShrinkError(.format, "node '\(node)' (binary_conv2d): groups must be 1, got \(groups ?? 1)")
            }
            let s = try window(stride, default: 1, "stride", node: node, minimum: 1)
            let p = try window(padding, default: 0, "padding", node: node, minimum: 0)
            return try BinaryConv2d(weight: try stored("weight", [o, c, k, k]),
                                bias: (bias ?? true) ? try stored("bias", [o]) : nil, stride: s, padding: p)
        case "sign": return Sign()
        case "quantize_dequantize":
            guard let b = bits, (2...8).contains(b) else {
                throw ShrinkError(.format, "node '\(node)' (quantize_dequantize): field 'bits' must be an integer in 2…8")
            }
            let scale = try stored("scale", [1]).scalars[0], zero = try stored("zero_point", [1]).scalars[0]
            guard scale > 0, scale.isFinite else {
                throw ShrinkError(.format, "tensor '\(node).scale' must be positive and finite, got \(scale)")
            }
            guard zero >= 0, zero < Float(1 << b), zero == zero.rounded() else {
                throw ShrinkError(.format, "tensor '\(node).zero_point' must be an integer in 0…\((1 << b) - 1), got \(zero)")
            }
            return QuantizeDequantize(bits: b, scale: scale, zeroPoint: Int(zero))
        case "batchnorm":
            let f = try required(features, "features", node: node)
            let e = epsilon ?? 1e-5, m = momentum ?? 0.1
            guard e > 0, e.isFinite, m >= 0, m <= 1 else {
                throw ShrinkError(.format, "node '\(node)' (batchnorm): epsilon must be > 0 and momentum in [0, 1]")
            }
            let variance = try stored("running_var", [f])
            guard variance.scalars.allSatisfy({ $0 >= 0 }) else {
                throw ShrinkError(.value, "tensor '\(node).running_var' holds a negative variance")
            }
            return BatchNorm(weight: try stored("weight", [f]), bias: try stored("bias", [f]),
                             runningMean: try stored("running_mean", [f]), runningVariance: variance,
                             epsilon: e, momentum: m)
        case "relu": return ReLU()
        case "relu6": return ReLU6()
        case "channel_clamp":
            let f = try required(features, "features", node: node)
            do {
                return try ChannelClamp(caps: try stored("cap", [f]))
            } catch let error as ShrinkError where error.kind == .value {
                throw ShrinkError(.value, "tensor '\(node).cap': \(error.message)")
            }
        case "global_mean": return GlobalMean()
        case "mul": return Multiply()
        case "channel_select":
            guard let channels, !channels.isEmpty, channels.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else {
                throw ShrinkError(.format, "node '\(node)' (channel_select): field 'channels' must be a non-empty list of "
                    + "channel indices ≥ 0")
            }
            return try ChannelSelect(channels: channels)
        case "maxpool2d", "avgpool2d":
            let k = try required(kernelSize, "kernel_size", node: node, maximum: LayerSpec.maximumWindow)
            let s = try window(stride, default: k, "stride", node: node, minimum: 1)
            let p = try window(padding, default: 0, "padding", node: node, minimum: 0)
            guard p <= k / 2 else {
                throw ShrinkError(.format, "node '\(node)' (\(kind)): padding \(p) must be at most kernel_size/2 = \(k / 2)")
            }
            if ceilMode == true && kind != "maxpool2d" {
                throw ShrinkError(.format, "node '\(node)' (\(kind)): ceil_mode applies to max pooling only")
            }
            return kind == "maxpool2d" ? MaxPool2d(kernelSize: k, stride: s, padding: p, ceilMode: ceilMode ?? false)
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
