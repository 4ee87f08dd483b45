// Every layer passes a finite-difference gradient check, for its inputs and its parameters.
import NeuralNetworks
import Tensors
import Testing

@Suite struct LayerGradientTests {
    @Test func linear() {
        var g = SeededGenerator(seed: 1)
        checkGradients(Linear(inputFeatures: 5, outputFeatures: 3, generator: &g), inputs: [randomTensor([4, 5], seed: 2)])
        checkGradients(Linear(inputFeatures: 5, outputFeatures: 3, bias: false, generator: &g),
                       inputs: [randomTensor([1, 5], seed: 3)])
    }

    @Test(arguments: [(1, 0, 1), (2, 1, 1), (1, 1, 2), (2, 0, 2)])
    func conv2d(stride: Int, padding: Int, groups: Int) {
        var g = SeededGenerator(seed: 4)
        let conv = Conv2d(inputChannels: 4, outputChannels: 6, kernelSize: 3, stride: stride, padding: padding,
                          groups: groups, generator: &g)
        checkGradients(conv, inputs: [randomTensor([2, 4, 6, 5], seed: 5)])
    }

    @Test func depthwiseAndPointwiseConv2d() {
        var g = SeededGenerator(seed: 6)
        checkGradients(Conv2d(inputChannels: 3, outputChannels: 3, kernelSize: 3, padding: 1, groups: 3, bias: false,
                              generator: &g), inputs: [randomTensor([2, 3, 4, 4], seed: 7)])
        checkGradients(Conv2d(inputChannels: 3, outputChannels: 5, kernelSize: 1, generator: &g),
                       inputs: [randomTensor([2, 3, 3, 3], seed: 8)])
        // The direct depthwise kernel: 5×5, stride 2, a channel multiplier of 2, a plane that is not square, bias.
        checkGradients(Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 5, stride: 2, padding: 2, groups: 2,
                              generator: &g), inputs: [randomTensor([3, 2, 7, 5], seed: 9)])
    }

    @Test func batchNormTrainingAndInference() {
        let bn2d = BatchNorm(weight: randomTensor([3], seed: 9), bias: randomTensor([3], seed: 10),
                             runningMean: Tensor(zeros: [3]), runningVariance: Tensor(shape: [3], repeating: 1))
        checkGradients(bn2d, inputs: [randomTensor([4, 3, 2, 3], seed: 11)], h: 5e-3)
        let bn1d = BatchNorm(features: 4)
        checkGradients(bn1d, inputs: [randomTensor([6, 4], seed: 12)], h: 5e-3)
    }

    @Test func activations() {
        // Keep inputs away from the kinks at 0 and 6 so central differences are valid.
        var x = randomTensor([3, 8], seed: 13) * 8
        for i in 0..<x.count where abs(x.scalars[i]) < 0.05 || abs(x.scalars[i] - 6) < 0.05 { x.scalars[i] += 0.2 }
        checkGradients(ReLU(), inputs: [x])
        checkGradients(ReLU6(), inputs: [x])
    }

    @Test func pooling() {
        checkGradients(MaxPool2d(kernelSize: 2), inputs: [randomTensor([2, 2, 4, 6], seed: 14)], h: 1e-3)
        checkGradients(MaxPool2d(kernelSize: 3, stride: 2, padding: 1), inputs: [randomTensor([1, 2, 5, 5], seed: 15)],
                       h: 1e-3)
        checkGradients(AvgPool2d(kernelSize: 2), inputs: [randomTensor([2, 2, 4, 4], seed: 16)])
        checkGradients(AvgPool2d(kernelSize: 3, stride: 2, padding: 1), inputs: [randomTensor([1, 2, 5, 5], seed: 17)])
        checkGradients(GlobalAvgPool(), inputs: [randomTensor([2, 3, 3, 2], seed: 18)])
    }

    @Test func reshapingAndMerging() {
        checkGradients(Flatten(), inputs: [randomTensor([2, 3, 2, 2], seed: 19)])
        checkGradients(Add(), inputs: [randomTensor([2, 3, 2], seed: 20), randomTensor([2, 3, 2], seed: 21)])
        checkGradients(Concat(), inputs: [randomTensor([2, 1, 2, 2], seed: 22), randomTensor([2, 3, 2, 2], seed: 23)])
    }

    @Test func dropoutScalesKeptValuesAndRoutesGradientThroughThem() {
        let dropout = Dropout(probability: 0.5, seed: 3)
        let x = Tensor(shape: [1, 1000], repeating: 1)
        let y = dropout.forward([x], mode: .training)
        let kept = y.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(kept.count > 400 && kept.count < 600)
        let dx = dropout.backward(Tensor(shape: [1, 1000], repeating: 1), needsInputGradient: [true])[0]!
        #expect(dx.scalars == y.scalars)
        #expect(dropout.forward([x], mode: .inference) == x)
    }

    @Test func graphBackpropagatesThroughResidualBranches() throws {
        var g = SeededGenerator(seed: 30)
        var b = GraphBuilder(inputShape: [2, 4, 4])
        try b.add("conv", Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: 3, padding: 1, generator: &g))
        try b.add("bn", BatchNorm(features: 2))
        try b.add("add", Add(), inputs: ["bn", "input"])
        try b.add("pool", GlobalAvgPool())
        try b.add("fc", Linear(inputFeatures: 2, outputFeatures: 3, generator: &g))
        let graph = try b.build()
        let x = randomTensor([3, 2, 4, 4], seed: 31), r = randomTensor([3, 3], seed: 32)
        graph.zeroGradients()
        _ = graph.forward(x, mode: .training)
        try graph.backward(seeds: ["fc": r])
        let h: Float = 5e-3
        for (name, p) in graph.parameters where p.isTrainable {
            for i in stride(from: 0, to: p.value.count, by: max(1, p.value.count / 5)) {
                let original = p.value.scalars[i]
                p.value.scalars[i] = original + h
                let up = graph.forward(x, mode: .training).dot(r)
                p.value.scalars[i] = original - h
                let down = graph.forward(x, mode: .training).dot(r)
                p.value.scalars[i] = original
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(numeric - Double(p.gradient.scalars[i])) < 2e-2 * max(1, abs(numeric)), "\(name)[\(i)]")
            }
        }
    }
}
