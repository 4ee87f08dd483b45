// Optimizer updates and learning-rate schedules worked out by hand.
import NeuralNetworks
import Tensors
import Testing

private func parameter(_ values: [Float], gradient: [Float]) -> Parameter {
    let p = Parameter(Tensor(shape: [values.count], scalars: values))
    p.gradient = Tensor(shape: [values.count], scalars: gradient)
    return p
}

@Suite struct OptimizerTests {
    @Test func plainSGDStep() {
        let p = parameter([1, 2], gradient: [0.5, -1])
        SGD(learningRate: 0.1).step([p])
        #expect(p.value.scalars == [0.95, 2.1])
    }

    @Test func momentumAccumulatesAndNesterovLooksAhead() {
        let p = parameter([1], gradient: [1])
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        sgd.step([p])  // v = 1, w = 0.9
        sgd.step([p])  // v = 1.9, w = 0.71
        #expect(abs(p.value.scalars[0] - 0.71) < 1e-6)
        let q = parameter([1], gradient: [1])
        let nesterov = SGD(learningRate: 0.1, momentum: 0.9, nesterov: true)
        nesterov.step([q])  // v = 1, w = 1 − 0.1·(1 + 0.9) = 0.81
        #expect(abs(q.value.scalars[0] - 0.81) < 1e-6)
    }

    @Test func weightDecayIsAddedToTheGradient() {
        let p = parameter([2], gradient: [0])
        SGD(learningRate: 0.5, weightDecay: 0.1).step([p])  // g = 0.2, w = 2 − 0.1
        #expect(abs(p.value.scalars[0] - 1.9) < 1e-6)
    }

    @Test func adamFirstStepMovesByLearningRateTimesSign() {
        let p = parameter([1, 1], gradient: [3, -0.01])
        Adam(learningRate: 0.01).step([p])  // m̂ = g, v̂ = g² ⇒ step = lr · g/|g|
        #expect(abs(p.value.scalars[0] - 0.99) < 1e-5 && abs(p.value.scalars[1] - 1.01) < 1e-5)
    }

    @Test func adamWDecaysTheWeightDirectly() {
        let p = parameter([2], gradient: [0])
        Adam(learningRate: 0.1, weightDecay: 0.5, decoupled: true).step([p])  // w = 2 − 0.1·0.5·2, no gradient step
        #expect(abs(p.value.scalars[0] - 1.9) < 1e-6)
    }

    @Test func masksKeepPrunedWeightsAtZero() {
        for optimizer in [SGD(learningRate: 0.1, momentum: 0.9), Adam(learningRate: 0.1)] as [any Optimizer] {
            let p = parameter([0, 1], gradient: [5, 5])
            p.mask = Tensor(shape: [2], scalars: [0, 1])
            optimizer.step([p]); optimizer.step([p])
            #expect(p.value.scalars[0] == 0 && p.value.scalars[1] < 1)
        }
    }

    @Test func schedules() {
        let cosine = LearningRateSchedule.cosine(minimum: 0)
        #expect(cosine.rate(base: 1, step: 0, totalSteps: 100, stepsPerEpoch: 10) == 1)
        #expect(abs(cosine.rate(base: 1, step: 50, totalSteps: 100, stepsPerEpoch: 10) - 0.5) < 1e-6)
        #expect(cosine.rate(base: 1, step: 100, totalSteps: 100, stepsPerEpoch: 10) < 1e-6)
        let warm = cosine.rate(base: 1, step: 5, totalSteps: 100, stepsPerEpoch: 10, warmupSteps: 10)
        #expect(abs(warm - 0.55) < 1e-6)  // 0.1 + 0.9·5/10
        let step = LearningRateSchedule.step(everyEpochs: 2, gamma: 0.1)
        #expect(step.rate(base: 1, step: 19, totalSteps: 100, stepsPerEpoch: 10) == 1)
        #expect(abs(step.rate(base: 1, step: 20, totalSteps: 100, stepsPerEpoch: 10) - 0.1) < 1e-7)
        #expect(abs(step.rate(base: 1, step: 45, totalSteps: 100, stepsPerEpoch: 10) - 0.01) < 1e-8)
    }
}
