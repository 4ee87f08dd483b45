// Built-in architectures, named for the CLI and the library; each adapts its input layer to the data's sample
// shape and its output layer to the number of classes. Node names follow the PyTorch module names.
import Datasets
import Tensors

/// The built-in architectures.
public enum Architecture: String, CaseIterable, Sendable, NamedChoice {
    /// Multilayer perceptron: flatten – fc1 (D→256) – ReLU – fc2 (256→128) – ReLU – fc3 (128→K).
    /// On 28×28 images: 784-256-128-10, 235,146 parameters.
    case mlp
    /// LeNet-5 adapted to 28×28 (ReLU and max pooling in place of tanh and subsampling):
    /// conv1 (C→6, 5×5, pad 2) – ReLU – pool1 (2×2) – conv2 (6→16, 5×5) – ReLU – pool2 (2×2) – flatten (16·5·5) –
    /// fc1 (400→120) – ReLU – fc2 (120→84) – ReLU – fc3 (84→K). [1] LeCun et al., 1998.
    case lenet5
    /// conv1 (C→32, 3×3, pad 1) – ReLU – pool1 (2×2) – conv2 (32→64, 3×3, pad 1) – ReLU – pool2 (2×2) – flatten
    /// (64·7·7 = 3136) – fc1 (3136→128) – ReLU – fc2 (128→K). On 28×28×1 with 10 classes: 421,642 parameters,
    /// 4,241,152 MACs per image.
    case fmnistCNN = "fmnist-cnn"
    /// The distillation student, under a tenth of fmnist-cnn: conv1 (C→8, 3×3, pad 1) – ReLU – pool1 – conv2
    /// (8→16, 3×3, pad 1) – ReLU – pool2 – flatten (16·7·7 = 784) – fc1 (784→32) – ReLU – fc2 (32→K).
    /// On 28×28×1 with 10 classes: 26,698 parameters.
    case fmnistSmall = "fmnist-small"
    /// A small residual net [1]: conv1 (C→16, 3×3, pad 1, no bias) – bn1 – ReLU, then three stages of one basic
    /// block each (16, 32, 64 channels; strides 1, 2, 2): conv (3×3) – bn – ReLU – conv (3×3) – bn, added to the
    /// shortcut (identity, or 1×1 conv stride 2 – bn where the shape changes), then ReLU; global average pool – fc
    /// (64→K). Eight weighted layers on the main path. [1] He et al., "Deep Residual Learning", 2016.
    case resnet8
    /// Depthwise-separable blocks [1]: stem conv (C→16, 3×3, pad 1, no bias) – bn – ReLU6, then four blocks
    /// dw (3×3, groups = channels, no bias) – bn – ReLU6 – pw (1×1, no bias) – bn – ReLU6 with widths
    /// 16→32 (stride 1), 32→64 (stride 2), 64→128 (stride 2), 128→128 (stride 1); global average pool – fc (128→K).
    /// [1] Howard et al., "MobileNets", 2017.
    case mobilenetTiny = "mobilenet-tiny"
    /// MobileNetV3-small [1] sized for small inputs: stem conv (C→16, 3×3, no bias) – bn – hard-swish, then six
    /// inverted-residual blocks (expand 1×1 – bn – act, depthwise k×k – bn – act, optional squeeze-excitation,
    /// project 1×1 – bn, added to the input where the shape allows):
    ///
    /// | block | kernel | expand | out | SE | act | stride |
    /// |---|---|---|---|---|---|---|
    /// | 1 | 3 | 16 | 16 | yes | ReLU | 2 |
    /// | 2 | 3 | 72 | 24 | no | ReLU | 2 |
    /// | 3 | 3 | 88 | 24 | no | ReLU | 1 |
    /// | 4 | 5 | 96 | 40 | yes | hard-swish | 1 |
    /// | 5 | 5 | 120 | 48 | yes | hard-swish | 1 |
    /// | 6 | 5 | 144 | 48 | yes | hard-swish | 1 |
    ///
    /// Squeeze-excitation: global mean – fc1 (1×1 conv to the expand width / 4, rounded to a multiple of 8) – ReLU –
    /// fc2 (1×1 conv back) – hard-sigmoid – times the block's features. Then a 1×1 conv (48→288) – bn – hard-swish,
    /// global average pool, fc1 (288→256) – hard-swish – fc2 (256→K). [1] Howard et al., "Searching for
    /// MobileNetV3", 2019.
    case mobilenetV3 = "mobilenet-v3"
    /// EfficientNet-B0 [1] sized for small inputs: stem conv (C→16, 3×3, stride 2, no bias) – bn – SiLU, then six
    /// MBConv blocks
    /// (expand 1×1 – bn – SiLU when the ratio is not 1, depthwise k×k – bn – SiLU, squeeze-excitation to a quarter of
    /// the block's input channels with a sigmoid gate, project 1×1 – bn, added to the input where the shape allows):
    ///
    /// | block | kernel | expand ratio | out | stride |
    /// |---|---|---|---|---|
    /// | 1 | 3 | 1 | 16 | 1 |
    /// | 2 | 3 | 6 | 24 | 2 |
    /// | 3 | 3 | 6 | 24 | 1 |
    /// | 4 | 5 | 6 | 40 | 1 |
    /// | 5 | 5 | 6 | 40 | 1 |
    /// | 6 | 3 | 6 | 80 | 1 |
    ///
    /// Then a 1×1 conv (80→320) – bn – SiLU, global average pool, fc (320→K). [1] Tan and Le, "EfficientNet:
    /// Rethinking Model Scaling for Convolutional Neural Networks", 2019.
    case efficientnet

    /// Every name, for help texts and errors.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// What an architecture is called in messages (`init(named:)` lists the choices).
    public static let choiceName = "architecture"

    /// Builds the graph for samples of `inputShape` ((D) or (C, H, W)) and `classes` outputs; weights from `seed`.
    public func makeGraph(inputShape: [Int], classes: Int, seed: UInt64 = 0) throws -> Graph {
        guard classes >= 2, classes <= DataSource.maximumClasses else {
            throw ShrinkError(.value, "\(rawValue) needs 2…\(DataSource.maximumClasses) classes, got \(classes)")
        }
        guard !inputShape.isEmpty else {
            throw ShrinkError(.shape, "\(rawValue) needs a non-empty sample shape, got \(inputShape)")
        }
        try Graph.checkShape(inputShape, "the \(rawValue) input")
        if self != .mlp && inputShape.count != 3 {
            throw ShrinkError(.shape, "\(rawValue) needs image samples (C, H, W), the data has samples of shape \(inputShape)")
        }
        var generator = SeededGenerator(seed: seed, stream: "init-\(rawValue)")
        var b = GraphBuilder(inputShape: inputShape)
        do {
            switch self {
            case .mlp: try buildMLP(&b, classes, &generator)
            case .lenet5: try buildLeNet5(&b, classes, &generator)
            case .fmnistCNN: try buildTwoConv(&b, widths: (32, 64, 128), classes, &generator)
            case .fmnistSmall: try buildTwoConv(&b, widths: (8, 16, 32), classes, &generator)
            case .resnet8: try buildResNet8(&b, classes, &generator)
            case .mobilenetTiny: try buildMobileNetTiny(&b, classes, &generator)
            case .mobilenetV3: try buildMobileNetV3(&b, classes, &generator)
            case .efficientnet: try buildEfficientNet(&b, classes, &generator)
            }
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(rawValue) does not fit samples of shape \(inputShape): \(error.message)")
        }
        return try b.build()
    }
}

private func buildMLP(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    try b.add("flatten", Flatten())
    try b.add("fc1", Linear(inputFeatures: b.currentShape[0], outputFeatures: 256, generator: &g))
    try b.add("relu1", ReLU())
    try b.add("fc2", Linear(inputFeatures: 256, outputFeatures: 128, generator: &g))
    try b.add("relu2", ReLU())
    try b.add("fc3", Linear(inputFeatures: 128, outputFeatures: classes, generator: &g))
}

private func buildLeNet5(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    try b.add("conv1", Conv2d(inputChannels: b.currentShape[0], outputChannels: 6, kernelSize: 5, padding: 2, generator: &g))
    try b.add("relu1", ReLU())
    try b.add("pool1", MaxPool2d(kernelSize: 2))
    try b.add("conv2", Conv2d(inputChannels: 6, outputChannels: 16, kernelSize: 5, generator: &g))
    try b.add("relu2", ReLU())
    try b.add("pool2", MaxPool2d(kernelSize: 2))
    try b.add("flatten", Flatten())
    try b.add("fc1", Linear(inputFeatures: b.currentShape[0], outputFeatures: 120, generator: &g))
    try b.add("relu3", ReLU())
    try b.add("fc2", Linear(inputFeatures: 120, outputFeatures: 84, generator: &g))
    try b.add("relu4", ReLU())
    try b.add("fc3", Linear(inputFeatures: 84, outputFeatures: classes, generator: &g))
}

private func buildTwoConv(_ b: inout GraphBuilder, widths: (Int, Int, Int), _ classes: Int,
                          _ g: inout SeededGenerator) throws {
    try b.add("conv1", Conv2d(inputChannels: b.currentShape[0], outputChannels: widths.0, kernelSize: 3, padding: 1,
                              generator: &g))
    try b.add("relu1", ReLU())
    try b.add("pool1", MaxPool2d(kernelSize: 2))
    try b.add("conv2", Conv2d(inputChannels: widths.0, outputChannels: widths.1, kernelSize: 3, padding: 1, generator: &g))
    try b.add("relu2", ReLU())
    try b.add("pool2", MaxPool2d(kernelSize: 2))
    try b.add("flatten", Flatten())
    try b.add("fc1", Linear(inputFeatures: b.currentShape[0], outputFeatures: widths.2, generator: &g))
    try b.add("relu3", ReLU())
    try b.add("fc2", Linear(inputFeatures: widths.2, outputFeatures: classes, generator: &g))
}

/// conv (k×k, no bias) – BatchNorm, named `<prefix>conv<i>` and `<prefix>bn<i>` as in torchvision's ResNet.
private func convBN(_ b: inout GraphBuilder, _ prefix: String, _ index: String, input: String? = nil,
                    channels: Int, kernel: Int, stride: Int, groups: Int = 1, _ g: inout SeededGenerator) throws {
    let inChannels = try b.shape(of: input ?? b.last)[0]
    try b.add("\(prefix)conv\(index)", Conv2d(inputChannels: inChannels, outputChannels: channels, kernelSize: kernel,
                                               stride: stride, padding: kernel / 2, groups: groups, bias: false,
                                               generator: &g), inputs: input.map { [$0] })
    try b.add("\(prefix)bn\(index)", BatchNorm(features: channels))
}

private func buildResNet8(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    try convBN(&b, "", "1", channels: 16, kernel: 3, stride: 1, &g)
    try b.add("relu", ReLU())
    for (stage, (channels, stride)) in [(16, 1), (32, 2), (64, 2)].enumerated() {
        let p = "layer\(stage + 1)_"
        let blockInput = b.last
        try convBN(&b, p, "1", channels: channels, kernel: 3, stride: stride, &g)
        try b.add("\(p)relu1", ReLU())
        try convBN(&b, p, "2", channels: channels, kernel: 3, stride: 1, &g)
        let main = b.last
        var shortcut = blockInput
        let blockChannels = try b.shape(of: blockInput)[0]
        if stride != 1 || blockChannels != channels {
            try b.add("\(p)downsample_conv", Conv2d(inputChannels: blockChannels, outputChannels: channels,
                                                    kernelSize: 1, stride: stride, bias: false, generator: &g),
                      inputs: [blockInput])
            try b.add("\(p)downsample_bn", BatchNorm(features: channels))
            shortcut = b.last
        }
        try b.add("\(p)add", Add(), inputs: [main, shortcut])
        try b.add("\(p)relu2", ReLU())
    }
    try b.add("pool", GlobalAvgPool())
    try b.add("fc", Linear(inputFeatures: 64, outputFeatures: classes, generator: &g))
}

private func buildMobileNetTiny(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    try convBN(&b, "stem_", "", channels: 16, kernel: 3, stride: 1, &g)
    try b.add("stem_relu", ReLU6())
    for (i, (channels, stride)) in [(32, 1), (64, 2), (128, 2), (128, 1)].enumerated() {
        let p = "block\(i + 1)_", inChannels = b.currentShape[0]
        try convBN(&b, p, "_dw", channels: inChannels, kernel: 3, stride: stride, groups: inChannels, &g)
        try b.add("\(p)relu_dw", ReLU6())
        try convBN(&b, p, "_pw", channels: channels, kernel: 1, stride: 1, &g)
        try b.add("\(p)relu_pw", ReLU6())
    }
    try b.add("pool", GlobalAvgPool())
    try b.add("fc", Linear(inputFeatures: 128, outputFeatures: classes, generator: &g))
}

/// conv (no bias) – bn – activation, named `<prefix>_conv`, `<prefix>_bn` and `<prefix>_act`; padding k / 2.
private func convBNActivation(_ b: inout GraphBuilder, _ prefix: String, channels: Int, kernel: Int, stride: Int = 1,
                              depthwise: Bool = false, activation: (any Layer)?, _ g: inout SeededGenerator) throws {
    let inChannels = b.currentShape[0]
    try b.add("\(prefix)_conv", Conv2d(inputChannels: inChannels, outputChannels: channels, kernelSize: kernel,
                                       stride: stride, padding: kernel / 2, groups: depthwise ? inChannels : 1,
                                       bias: false, generator: &g))
    try b.add("\(prefix)_bn", BatchNorm(features: channels))
    if let activation { try b.add("\(prefix)_act", activation) }
}

/// Squeeze-excitation [1] on the current (C, H, W) features: global mean – fc1 (1×1 conv C→`squeezed`, bias) – ReLU –
/// fc2 (1×1 conv `squeezed`→C, bias) – `gate` – times the features. Nodes `<prefix>_pool`, `_fc1`, `_relu`, `_fc2`,
/// `_gate`, `_scale`. [1] Hu et al., "Squeeze-and-Excitation Networks", 2018.
private func squeezeExcitation(_ b: inout GraphBuilder, _ prefix: String, squeezed: Int, gate: any Layer,
                               _ g: inout SeededGenerator) throws {
    let features = b.last, channels = b.currentShape[0]
    try b.add("\(prefix)_pool", GlobalMean())
    try b.add("\(prefix)_fc1", Conv2d(inputChannels: channels, outputChannels: squeezed, kernelSize: 1, generator: &g))
    try b.add("\(prefix)_relu", ReLU())
    try b.add("\(prefix)_fc2", Conv2d(inputChannels: squeezed, outputChannels: channels, kernelSize: 1, generator: &g))
    try b.add("\(prefix)_gate", gate)
    try b.add("\(prefix)_scale", Multiply(), inputs: [features, b.last])
}

/// An inverted-residual block: expand (when `expanded` differs from the input width), depthwise, squeeze-excitation
/// (when `squeezed` is given), project, and the residual add when stride is 1 and the widths match.
private func invertedResidual(_ b: inout GraphBuilder, _ prefix: String, kernel: Int, expanded: Int, out: Int,
                              stride: Int, squeezed: Int?, activation: () throws -> any Layer, gate: () throws -> any Layer,
                              _ g: inout SeededGenerator) throws {
    let input = b.last, inChannels = b.currentShape[0]
    if expanded != inChannels {
        try convBNActivation(&b, "\(prefix)_expand", channels: expanded, kernel: 1, activation: try activation(), &g)
    }
    try convBNActivation(&b, "\(prefix)_dw", channels: expanded, kernel: kernel, stride: stride, depthwise: true,
                         activation: try activation(), &g)
    if let squeezed { try squeezeExcitation(&b, "\(prefix)_se", squeezed: squeezed, gate: try gate(), &g) }
    try convBNActivation(&b, "\(prefix)_project", channels: out, kernel: 1, activation: nil, &g)
    if stride == 1 && inChannels == out {
        try b.add("\(prefix)_add", Add(), inputs: [b.last, input])
    }
}

/// A multiple of 8 near `value` and no less than 90% of it (MobileNet's `_make_divisible`).
private func divisibleByEight(_ value: Int) -> Int {
    let rounded = max(8, (value + 4) / 8 * 8)
    return rounded * 10 < value * 9 ? rounded + 8 : rounded
}

private func buildMobileNetV3(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    let hardSwish = { try PointwiseActivation(.hardSwish) as any Layer }
    let relu = { ReLU() as any Layer }
    let hardSigmoid = { try PointwiseActivation(.hardSigmoid) as any Layer }
    try convBNActivation(&b, "stem", channels: 16, kernel: 3, activation: try hardSwish(), &g)
    let blocks: [(kernel: Int, expanded: Int, out: Int, se: Bool, hardSwish: Bool, stride: Int)] = [
        (3, 16, 16, true, false, 2), (3, 72, 24, false, false, 2), (3, 88, 24, false, false, 1),
        (5, 96, 40, true, true, 1), (5, 120, 48, true, true, 1), (5, 144, 48, true, true, 1),
    ]
    for (i, block) in blocks.enumerated() {
        try invertedResidual(&b, "block\(i + 1)", kernel: block.kernel, expanded: block.expanded, out: block.out,
                             stride: block.stride, squeezed: block.se ? divisibleByEight(block.expanded / 4) : nil,
                             activation: block.hardSwish ? hardSwish : relu, gate: hardSigmoid, &g)
    }
    try convBNActivation(&b, "last", channels: 288, kernel: 1, activation: try hardSwish(), &g)
    try b.add("pool", GlobalAvgPool())
    try b.add("classifier_fc1", Linear(inputFeatures: 288, outputFeatures: 256, generator: &g))
    try b.add("classifier_act", try hardSwish())
    try b.add("classifier_fc2", Linear(inputFeatures: 256, outputFeatures: classes, generator: &g))
}

private func buildEfficientNet(_ b: inout GraphBuilder, _ classes: Int, _ g: inout SeededGenerator) throws {
    let silu = { try PointwiseActivation(.silu) as any Layer }
    let sigmoid = { try PointwiseActivation(.sigmoid) as any Layer }
    try convBNActivation(&b, "stem", channels: 16, kernel: 3, stride: 2, activation: try silu(), &g)
    let blocks: [(kernel: Int, ratio: Int, out: Int, stride: Int)] = [
        (3, 1, 16, 1), (3, 6, 24, 2), (3, 6, 24, 1), (5, 6, 40, 1), (5, 6, 40, 1), (3, 6, 80, 1),
    ]
    for (i, block) in blocks.enumerated() {
        let inChannels = b.currentShape[0]
        try invertedResidual(&b, "block\(i + 1)", kernel: block.kernel, expanded: inChannels * block.ratio,
                             out: block.out, stride: block.stride, squeezed: max(1, inChannels / 4),
                             activation: silu, gate: sigmoid, &g)
    }
    try convBNActivation(&b, "head", channels: 320, kernel: 1, activation: try silu(), &g)
    try b.add("pool", GlobalAvgPool())
    try b.add("fc", Linear(inputFeatures: 320, outputFeatures: classes, generator: &g))
}
