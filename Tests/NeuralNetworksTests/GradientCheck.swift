// Finite-difference gradient checks shared by the layer tests: central differences of L = Σ y·r against backward.
import Foundation
import NeuralNetworks
import Tensors
import Testing

/// A tensor of seeded uniform values in [−1, 1).
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextUniform() * 2 - 1 })
}

/// Checks ∂L/∂inputs and ∂L/∂parameters of `layer` for L = Σ forward(inputs)·r, with central differences
/// (step `h`), against backward. Relative error per element must stay under `tolerance` (absolute under 1e-3).
func checkGradients(_ layer: any Layer, inputs: [Tensor], mode: Mode = .training, h: Float = 1e-2,
                    tolerance: Float = 2e-2, sourceLocation: SourceLocation = #_sourceLocation) {
    let output = layer.forward(inputs, mode: mode)
    let r = randomTensor(output.shape, seed: 99)
    func loss(_ xs: [Tensor]) -> Double { layer.forward(xs, mode: mode).dot(r) }
    for p in layer.parameters where p.parameter.isTrainable { p.parameter.zeroGradient() }
    _ = layer.forward(inputs, mode: mode)
    let analytic = layer.backward(r, needsInputGradient: inputs.map { _ in true })
    func compare(_ a: Float, _ numeric: Double, _ what: String) {
        let diff = abs(Double(a) - numeric)
        let ok = diff < 1e-3 || diff / max(abs(numeric), abs(Double(a))) < Double(tolerance)
        #expect(ok, "\(layer.kind) \(what): analytic \(a), numeric \(numeric)", sourceLocation: sourceLocation)
    }
    for (k, x) in inputs.enumerated() {
        guard let g = analytic[k] else { Issue.record("no gradient for input \(k)"); continue }
        #expect(g.shape == x.shape, sourceLocation: sourceLocation)
        for i in 0..<x.count {
            var plus = inputs, minus = inputs
            plus[k].scalars[i] += h
            minus[k].scalars[i] -= h
            compare(g.scalars[i], (loss(plus) - loss(minus)) / Double(2 * h), "∂/∂input\(k)[\(i)]")
        }
    }
    for (name, p) in layer.parameters where p.isTrainable {
        let g = p.gradient
        for i in 0..<p.value.count {
            let original = p.value.scalars[i]
            p.value.scalars[i] = original + h
            let up = loss(inputs)
            p.value.scalars[i] = original - h
            let down = loss(inputs)
            p.value.scalars[i] = original
            compare(g.scalars[i], (up - down) / Double(2 * h), "∂/∂\(name)[\(i)]")
        }
    }
}
