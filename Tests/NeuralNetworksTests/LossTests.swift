// Losses against values worked out by hand, their gradients against finite differences, and stability.
import Foundation
import NeuralNetworks
import Tensors
import Testing

@Suite struct LossTests {
    @Test func crossEntropyOfUniformLogitsIsLogK() {
        let result = crossEntropy(logits: Tensor(shape: [2, 4], repeating: 3), labels: [0, 3])
        #expect(abs(result.loss - log(4.0)) < 1e-6)
        // (softmax − onehot) / N = (0.25 − [1 or 0]) / 2
        #expect(abs(result.gradient[0, 0] - (-0.375)) < 1e-6)
        #expect(abs(result.gradient[0, 1] - 0.125) < 1e-6)
        #expect(abs(result.gradient[1, 3] - (-0.375)) < 1e-6)
    }

    @Test func crossEntropyByHand() {
        // logits (0, ln 3): softmax = (1/4, 3/4); label 1 → −ln(3/4)
        let result = crossEntropy(logits: Tensor(shape: [1, 2], scalars: [0, Float(log(3.0))]), labels: [1])
        #expect(abs(result.loss - (-log(0.75))) < 1e-6)
        #expect(abs(result.gradient[0, 0] - 0.25) < 1e-6 && abs(result.gradient[0, 1] - (-0.25)) < 1e-6)
    }

    @Test func crossEntropyIsStableForHugeLogits() {
        let result = crossEntropy(logits: Tensor(shape: [1, 3], scalars: [1000, -1000, 0]), labels: [0])
        #expect(result.loss.isFinite && result.loss < 1e-6)
        #expect(result.gradient.firstNonFiniteIndex() == nil)
        let wrong = crossEntropy(logits: Tensor(shape: [1, 2], scalars: [1000, 0]), labels: [1])
        #expect(abs(wrong.loss - 1000) < 1e-3)
    }

    @Test func klDivergenceIsZeroForEqualDistributionsAndMatchesHandValue() {
        let z = randomTensor([3, 5], seed: 1)
        let same = klDivergence(studentLogits: z, teacherLogits: z, temperature: 4)
        #expect(abs(same.loss) < 1e-6 && same.gradient.maxAbsolute() < 1e-7)
        // Teacher (ln 3, 0) at T = 1 → P_t = (3/4, 1/4); student (0, 0) → P_s = (1/2, 1/2).
        // KL = 3/4 ln(3/2) + 1/4 ln(1/2).
        let r = klDivergence(studentLogits: Tensor(shape: [1, 2], scalars: [0, 0]),
                             teacherLogits: Tensor(shape: [1, 2], scalars: [Float(log(3.0)), 0]))
        #expect(abs(r.loss - (0.75 * log(1.5) + 0.25 * log(0.5))) < 1e-6)
        #expect(abs(r.gradient[0, 0] - (-0.25)) < 1e-6)
    }

    @Test func klDivergenceGradientMatchesFiniteDifferences() {
        let s = randomTensor([2, 4], seed: 2) * 3, t = randomTensor([2, 4], seed: 3) * 3
        let temperature: Float = 2.5
        let g = klDivergence(studentLogits: s, teacherLogits: t, temperature: temperature).gradient
        for i in 0..<s.count {
            var plus = s, minus = s
            plus.scalars[i] += 1e-2; minus.scalars[i] -= 1e-2
            let numeric = (klDivergence(studentLogits: plus, teacherLogits: t, temperature: temperature).loss
                - klDivergence(studentLogits: minus, teacherLogits: t, temperature: temperature).loss) / 2e-2
            #expect(abs(numeric - Double(g.scalars[i])) < 1e-3)
        }
    }

    @Test func meanSquaredErrorByHand() {
        let r = meanSquaredError(Tensor(shape: [2], scalars: [1, 3]), Tensor(shape: [2], scalars: [0, 1]))
        #expect(abs(r.loss - 2.5) < 1e-9)  // (1 + 4) / 2
        #expect(r.gradient.scalars == [1, 2])  // 2·(a − b)/2
    }

    @Test func topKCountsTiesConservatively() {
        let logits = Tensor(shape: [2, 6], scalars: [1, 5, 4, 3, 2, 0, 0, 0, 0, 0, 0, 0])
        let c = topKCorrect(logits: logits, labels: [0, 5])
        #expect(c.top1 == 0)   // row 0: label 0 ranks 5th; row 1: label 5 ties with 5 earlier classes
        #expect(c.topK == 1)   // row 0 is within top-5, row 1 is not
    }
}
