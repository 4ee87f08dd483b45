// The vectorized exp, sigmoid, SiLU and hard-swish kernels: exp within 2 ulp of the exact value over its range and
// clamped (NaN kept) outside it; sigmoid, SiLU and hard-swish against their formulas in double; every instruction path (AVX-512, AVX2,
// portable) bit-identical with the others and with the scalar `ck_expf` formula.
import CKernels
import Foundation
import Tensors
import Testing

@Suite struct SigmoidKernelTests {
    @Test func expIsWithinTwoULPOverItsRange() {
        var worst: Float = 0, x: Float = -87.3
        while x <= 88.3 {
            let exact = Foundation.exp(Double(x)), got = ck_expf(x)
            let ulps = Float(abs(Double(got) - exact)) / Float(exact).ulp
            worst = max(worst, ulps)
            x += 0.0137
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        #expect(ck_expf(0) == 1)
        #expect(ck_expf(.nan).isNaN)
        #expect(ck_expf(-1000) == ck_expf(-87.3) && ck_expf(-87.3) > 0 && ck_expf(-87.3).isNormal)
        #expect(ck_expf(.infinity) == ck_expf(88.3) && ck_expf(88.3).isFinite)
    }

    /// Values spread over the range that matters, with the edges and special values.
    private func inputs() -> [Float] {
        var g = SeededGenerator(seed: 7)
        return (0..<1_003).map { _ in (g.nextUniform() * 2 - 1) * 30 } + [0, -0.0, 100, -100, .infinity, -.infinity, .nan]
    }

    @Test func sigmoidAndSiLUFollowTheirFormulas() {
        let x = inputs()
        func run(_ function: Int32) -> [Float] {
            var out = [Float](repeating: 0, count: x.count)
            #expect(ck_activation_with(Int32(CK_VECTOR_PORTABLE), function, x, &out, Int64(x.count)) == 1)
            return out
        }
        let (sigmoid, silu) = (run(0), run(1))
        for i in x.indices where x[i].isFinite {
            let v = Double(x[i]), s = 1 / (1 + Foundation.exp(-v))
            #expect(abs(Double(sigmoid[i]) - s) <= 1e-6 * max(1, s), "σ(\(x[i])): \(sigmoid[i]) against \(s)")
            #expect(abs(Double(silu[i]) - v * s) <= 1e-6 * max(1, abs(v * s)), "silu(\(x[i])): \(silu[i]) against \(v * s)")
        }
        let last = x.count - 1  // NaN in, NaN out; ±∞ saturate
        #expect(sigmoid[last].isNaN && silu[last].isNaN)
        #expect(sigmoid[last - 2] == 1 && sigmoid[last - 1] < 1e-38 && silu[last - 2] == .infinity)
        // The scalar formula gives the same bits as the kernel.
        for i in x.indices {
            let scalar = 1 / (1 + ck_expf(-x[i]))
            #expect(sigmoid[i].bitPattern == scalar.bitPattern || (scalar.isNaN && sigmoid[i].isNaN))
        }
    }

    @Test func hardSwishFollowsItsFormula() {
        let x = inputs()
        var out = [Float](repeating: 0, count: x.count)
        #expect(ck_activation_with(Int32(CK_VECTOR_PORTABLE), 2, x, &out, Int64(x.count)) == 1)
        for i in x.indices where x[i].isFinite {
            let v = Double(x[i]), exact = v * min(max(v + 3, 0), 6) / 6
            #expect(abs(Double(out[i]) - exact) <= 1e-6 * max(1, abs(exact)), "hardswish(\(x[i])): \(out[i]) against \(exact)")
        }
        let last = x.count - 1  // NaN in, NaN out; +∞ stays, −∞ gives −∞ · 0 = NaN as the formula does
        #expect(out[last].isNaN && out[last - 1].isNaN && out[last - 2] == .infinity && out[last - 3] == 0 && out[last - 4] == 100)
    }

    @Test func everyPathGivesTheSameBits() {
        let x = inputs()
        for function in Int32(0)...2 {
            var reference = [Float](repeating: 0, count: x.count)
            #expect(ck_activation_with(Int32(CK_VECTOR_PORTABLE), function, x, &reference, Int64(x.count)) == 1)
            for path in [Int32(CK_VECTOR_AVX512), Int32(CK_VECTOR_AVX2)] {
                var out = [Float](repeating: 0, count: x.count)
                guard ck_activation_with(path, function, x, &out, Int64(x.count)) == 1 else { continue }
                #expect(zip(out, reference).allSatisfy { $0.bitPattern == $1.bitPattern }, "function \(function), path \(path)")
            }
        }
        var unused: Float = 0
        #expect(ck_activation_with(Int32(CK_VECTOR_PORTABLE), 3, x, &unused, 0) == 0)
    }
}
