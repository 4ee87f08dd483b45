// quantize / dequantize: Q = clamp(rint(R/S) + Z, Qmin, Qmax) and R = S·(Q − Z) by hand, half-to-even rounding,
// the S/2 round-trip bound, saturation, NaN, per-channel along axes 0 and 1 of a 4-D tensor, and the 8-bit views.
import CKernels
import Quantization
import Tensors
import Testing

@Suite struct QuantizeTests {
    /// uint8 on [−1, 3]: S = 4/255, Z = 64.
    let uint8 = try! QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 8, signed: false, symmetric: false)

    @Test func uint8CodesByHand() throws {
        // R/S = R·255/4:  −1 → −63.75 → −64 + 64 = 0;   0 → 64;   1 → 63.75 → 64 + 64 = 128;
        //  3 → 191.25 → 191 + 64 = 255;   5 → 318.75 → 319 + 64 = 383 → 255;   −3 → −191.25 → −127 → 0.
        let q = try quantize(Tensor(shape: [2, 3], scalars: [-1, 0, 1, 3, 5, -3]), with: uint8)
        #expect(q.values == [0, 64, 128, 255, 255, 0] && q.shape == [2, 3])
        // R = S·(Q − Z): 0 → −64·4/255, 64 → 0, 128 → 64·4/255, 255 → 191·4/255.
        let s = Float(4.0 / 255.0)
        #expect(dequantize(q).scalars == [s * -64, 0, s * 64, s * 191, s * 191, s * -64])
    }

    @Test func roundsHalfToEven() throws {
        // S = 1, Z = 0: rint(0.5) = 0, rint(1.5) = 2, rint(2.5) = 2, rint(−0.5) = 0, rint(−1.5) = −2, rint(−2.5) = −2.
        let unit = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 8, signed: true)
        let q = try quantize(Tensor(shape: [6], scalars: [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]), with: unit)
        #expect(q.values == [0, 2, 2, 0, -2, -2])
        // S = 0.5, Z = 3 (uint8): 0.25/0.5 = 0.5 → 0 → 3;  0.75/0.5 = 1.5 → 2 → 5.
        let half = try QuantizationParameters(scales: [0.5], zeroPoints: [3], bits: 8, signed: false)
        #expect(try quantize(Tensor(shape: [2], scalars: [0.25, 0.75]), with: half).values == [3, 5])
    }

    @Test func roundTripWithinHalfAStepInsideTheRange() throws {
        // Inside [S·(0 − 64), S·(255 − 64)] = [−1.0039, 2.9961] every value comes back within S/2.
        let s = uint8.scales[0]
        let inside = Tensor(shape: [1001], scalars: (0...1000).map { -1 + 3.99 * Float($0) / 1000 })
        let back = dequantize(try quantize(inside, with: uint8))
        for (value, restored) in zip(inside.scalars, back.scalars) {
            #expect(abs(value - restored) <= s / 2 * 1.0001, "\(value) → \(restored)")
        }
        // Outside, values saturate at the ends of the representable range, ±∞ included.
        let outside = Tensor(shape: [4], scalars: [-10, 10, -.infinity, .infinity])
        let clamped = try quantize(outside, with: uint8)
        #expect(clamped.values == [0, 255, 0, 255])
        #expect(dequantize(clamped).scalars == [s * -64, s * 191, s * -64, s * 191])
    }

    @Test func nanIsAnError() {
        expectShrinkError(.value, containing: ["element 2", "NaN"]) {
            _ = try quantize(Tensor(shape: [3], scalars: [0, 1, .nan]), with: uint8)
        }
    }

    @Test func perChannelAlongAxisZeroOfAFourDimensionalTensor() throws {
        // Shape (2, 3, 1, 2), axis 0: sample 0 uses S = 1, Z = 0; sample 1 uses S = 0.5, Z = 1 (int8).
        // Sample 0 holds (−1, 2, −2, 4, −3, 6) → the same codes; sample 1 holds (−2, 4, −4, 8, −6, 12) → 2R + 1.
        let p = try QuantizationParameters(scales: [1, 0.5], zeroPoints: [0, 1], bits: 8, signed: true, axis: 0)
        let q = try quantize(fourDimensional, with: p)
        #expect(q.values == [-1, 2, -2, 4, -3, 6, -3, 9, -7, 17, -11, 25])
        #expect(dequantize(q) == fourDimensional)
    }

    @Test func perChannelAlongAxisOneOfAFourDimensionalTensor() throws {
        // Axis 1 (channels): S = (1, 0.5, 0.25), Z = (0, 1, −1). Element (n, c, 0, w) sits at 6n + 2c + w.
        // n = 0: c0 (−1, 2) → (−1, 2); c1 (−2, 4) → (−4+1, 8+1) = (−3, 9); c2 (−3, 6) → (−12−1, 24−1) = (−13, 23).
        // n = 1: c0 (−2, 4) → (−2, 4); c1 (−4, 8) → (−7, 17); c2 (−6, 12) → (−25, 47).
        let p = try QuantizationParameters(scales: [1, 0.5, 0.25], zeroPoints: [0, 1, -1], bits: 8, signed: true,
                                           axis: 1)
        let q = try quantize(fourDimensional, with: p)
        #expect(q.values == [-1, 2, -3, 9, -13, 23, -2, 4, -7, 17, -25, 47])
        #expect(dequantize(q) == fourDimensional)
        // The last axis works too: S = (1, 2) for w = 0, 1.
        let last = try QuantizationParameters(scales: [1, 2], zeroPoints: [0, 0], bits: 8, signed: true, axis: 3)
        #expect(try quantize(fourDimensional, with: last).values == [-1, 1, -2, 2, -3, 3, -2, 2, -4, 4, -6, 6])
    }

    @Test func axisMustFitTheTensor() throws {
        let threeChannels = try QuantizationParameters(scales: [1, 1, 1], zeroPoints: [0, 0, 0], bits: 8,
                                                       signed: true, axis: 0)
        expectShrinkError(.shape, containing: ["3 scales", "2 channels"]) {
            _ = try quantize(fourDimensional, with: threeChannels)
        }
        let axisFour = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 8, signed: true, axis: 4)
        expectShrinkError(.shape, containing: ["axis 4", "[2, 3, 1, 2]"]) {
            _ = try quantize(fourDimensional, with: axisFour)
        }
    }

    @Test func emptyTensor() throws {
        let q = try quantize(Tensor(zeros: [0, 3]), with: uint8)
        #expect(q.values.isEmpty && q.shape == [0, 3] && dequantize(q).shape == [0, 3])
    }

    @Test func eightBitViews() throws {
        let q = try quantize(Tensor(shape: [3], scalars: [-1, 0, 3]), with: uint8)
        #expect(try q.uint8Values == [0, 64, 255])
        expectShrinkError(.unsupported, containing: ["Int8"]) { _ = try q.int8Values }
        let int8 = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 8, signed: true, symmetric: true)
        let signed = try quantize(Tensor(shape: [3], scalars: [-2.1, 0, 1]), with: int8)
        // −2.1/(2/127.5) = −133.9 → clamped to −128;  1/(2/127.5) = 63.75 → 64.
        #expect(try signed.int8Values == [-128, 0, 64])
        expectShrinkError(.unsupported, containing: ["UInt8"]) { _ = try signed.uint8Values }
        // uint4 codes 0…15 fit in Int8 as well.
        let uint4 = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 4, signed: false)
        #expect(try quantize(Tensor(shape: [2], scalars: [3, 20]), with: uint4).int8Values == [3, 15])
    }

    @Test func quantizedTensorInitialiserValidates() throws {
        let q = try QuantizedTensor(shape: [2], values: [0, 255], parameters: uint8)
        #expect(q.count == 2 && q.description.hasPrefix("QuantizedTensor[2](0, 255) uint8 per-tensor"))
        expectShrinkError(.value, containing: ["256", "0…255"]) {
            _ = try QuantizedTensor(shape: [2], values: [0, 256], parameters: uint8)
        }
        expectShrinkError(.shape, containing: ["[3]", "got 2"]) {
            _ = try QuantizedTensor(shape: [3], values: [0, 1], parameters: uint8)
        }
    }

    @Test func bytesAreTheCodesOnEveryPath() throws {
        // Ties at every code (k + 0.5 steps), values past both ends, ±∞, −0 and random values: the bytes of
        // quantizeToUInt8 and of each vector path are quantize's codes.
        var g = SeededGenerator(seed: 11)
        let s = uint8.scales[0]
        var values: [Float] = (-80...300).map { (Float($0) - 64 + 0.5) * s } + [-.infinity, .infinity, -0.0, 0, 7, -7]
        values += (0..<1000).map { _ in g.nextUniform() * 6 - 2 }
        let x = Tensor(shape: [values.count], scalars: values)
        let expected = try quantize(x, with: uint8).values.map { UInt8($0) }
        #expect(try quantizeToUInt8(x, with: uint8) == expected)
        var ran = 0
        for path in [CK_VECTOR_PORTABLE, CK_VECTOR_AVX2, CK_VECTOR_AVX512] {
            var out = [UInt8](repeating: 0, count: values.count)
            let result = ck_quantize_u8_with(Int32(path), values, Int64(values.count), s, Float(uint8.zeroPoints[0]),
                                             0, 255, &out)
            guard result != -2 else { continue }
            ran += 1
            #expect(result == -1)
            #expect(out == expected, "path \(path)")
        }
        #expect(ran >= 1)
        // A NaN is refused with its index, as quantize refuses it.
        var withNaN = values
        withNaN[700] = .nan
        #expect(throws: ShrinkError.self) { try quantizeToUInt8(Tensor(shape: [withNaN.count], scalars: withNaN), with: uint8) }
        var out = [UInt8](repeating: 0, count: withNaN.count)
        #expect(ck_quantize_u8(withNaN, Int64(withNaN.count), s, 64, 0, 255, &out) == 700)
        // Codes that do not fit a byte are refused; per-channel parameters take quantize's path.
        let signed = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 8, signed: true)
        #expect(throws: ShrinkError.self) { try quantizeToUInt8(Tensor(shape: [1], scalars: [-3]), with: signed) }
        let perChannel = try QuantizationParameters(scales: [0.5, 0.25], zeroPoints: [3, 10], bits: 8, signed: false,
                                                    axis: 0)
        let grid = Tensor(shape: [2, 3], scalars: [0.25, 0.75, -9, 1, 2, 100])
        #expect(try quantizeToUInt8(grid, with: perChannel) == quantize(grid, with: perChannel).values.map { UInt8($0) })
    }
}
