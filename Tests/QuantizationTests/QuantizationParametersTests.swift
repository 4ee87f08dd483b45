// QuantizationParameters: integer ranges, validation, Codable, and the scale/zero-point formulas worked by hand —
// affine and symmetric, 8/4/2 bits, ranges without 0, half-to-even zero points, constant and all-zero ranges.
import Foundation
import Quantization
import Tensors
import Testing

@Suite struct QuantizationParametersTests {
    @Test func integerRanges() throws {
        // signed: −2^(b−1) … 2^(b−1)−1; unsigned: 0 … 2^b−1; narrow drops the lowest code.
        #expect(try QuantizationParameters.integerRange(bits: 8, signed: true) == -128...127)
        #expect(try QuantizationParameters.integerRange(bits: 8, signed: true, narrowRange: true) == -127...127)
        #expect(try QuantizationParameters.integerRange(bits: 8, signed: false) == 0...255)
        #expect(try QuantizationParameters.integerRange(bits: 8, signed: false, narrowRange: true) == 1...255)
        #expect(try QuantizationParameters.integerRange(bits: 4, signed: true) == -8...7)
        #expect(try QuantizationParameters.integerRange(bits: 4, signed: false) == 0...15)
        #expect(try QuantizationParameters.integerRange(bits: 2, signed: true) == -2...1)
        #expect(try QuantizationParameters.integerRange(bits: 2, signed: false) == 0...3)
        for bits in [1, 9, 0, -3] {
            expectShrinkError(.value, containing: ["2…8", "got \(bits)"]) {
                _ = try QuantizationParameters.integerRange(bits: bits, signed: true)
            }
        }
    }

    @Test func uint8AffineOnMinusOneToThree() throws {
        // S = (3 − (−1)) / (255 − 0) = 4/255; Z = round(255 − 3/S) = round(255 − 191.25) = round(63.75) = 64.
        let p = try QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 8, signed: false, symmetric: false)
        #expect(p.scales == [Float(4.0 / 255.0)] && p.zeroPoints == [64])
        #expect(p.qmin == 0 && p.qmax == 255 && p.axis == nil && !p.signed)
    }

    @Test func int8SymmetricOnMinusTwoToOne() throws {
        // max|R| = 2. Full range −128…127: S = 2 / (255/2) = 2/127.5, Z = 0.
        let full = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 8, signed: true, symmetric: true)
        #expect(full.scales == [Float(2.0 / 127.5)] && full.zeroPoints == [0])
        // Narrow range −127…127: S = 2 / (254/2) = 2/127, Z = 0.
        let narrow = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 8, signed: true,
                                                        symmetric: true, narrowRange: true)
        #expect(narrow.scales == [Float(2.0 / 127.0)] && narrow.zeroPoints == [0] && narrow.qmin == -127)
        // Unsigned symmetric (PyTorch's quint8 symmetric): S = 2/127.5, Z = midpoint 128.
        let unsigned = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 8, signed: false,
                                                          symmetric: true)
        #expect(unsigned.scales == [Float(2.0 / 127.5)] && unsigned.zeroPoints == [128])
    }

    @Test func rangeWithoutZeroIsWidened() throws {
        // [2, 5] → [0, 5]: S = 5/255, Z = round(255 − 5·255/5) = 0.
        let positive = try QuantizationParameters.compute(minimum: 2, maximum: 5, bits: 8, signed: false,
                                                          symmetric: false)
        #expect(positive.scales == [Float(5.0 / 255.0)] && positive.zeroPoints == [0])
        // [−5, −2] → [−5, 0]: S = 5/255, Z = round(255 − 0) = 255.
        let negative = try QuantizationParameters.compute(minimum: -5, maximum: -2, bits: 8, signed: false,
                                                          symmetric: false)
        #expect(negative.scales == [Float(5.0 / 255.0)] && negative.zeroPoints == [255])
    }

    @Test func fourAndTwoBits() throws {
        // uint4 on [−1, 3]: S = 4/15, Z = round(15 − 3·15/4) = round(3.75) = 4.
        let uint4 = try QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 4, signed: false,
                                                       symmetric: false)
        #expect(uint4.scales == [Float(4.0 / 15.0)] && uint4.zeroPoints == [4])
        // int4 affine on [−1, 3]: S = 4/15, Z = round(7 − 11.25) = round(−4.25) = −4.
        let int4 = try QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 4, signed: true, symmetric: false)
        #expect(int4.scales == [Float(4.0 / 15.0)] && int4.zeroPoints == [-4])
        // int4 symmetric on [−2, 1]: S = 2 / (15/2) = 2/7.5.
        let int4Symmetric = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 4, signed: true,
                                                               symmetric: true)
        #expect(int4Symmetric.scales == [Float(2.0 / 7.5)] && int4Symmetric.zeroPoints == [0])
        // int2 symmetric on [−2, 1]: codes −2…1, S = 2 / (3/2) = 4/3; narrow (−1…1): S = 2 / (2/2) = 2.
        let int2 = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 2, signed: true, symmetric: true)
        #expect(int2.scales == [Float(4.0 / 3.0)] && int2.zeroPoints == [0])
        let int2Narrow = try QuantizationParameters.compute(minimum: -2, maximum: 1, bits: 2, signed: true,
                                                            symmetric: true, narrowRange: true)
        #expect(int2Narrow.scales == [2] && int2Narrow.zeroPoints == [0])
        // uint2 affine on [−1, 3]: S = 4/3, Z = round(3 − 3/(4/3)) = round(0.75) = 1.
        let uint2 = try QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 2, signed: false,
                                                       symmetric: false)
        #expect(uint2.scales == [Float(4.0 / 3.0)] && uint2.zeroPoints == [1])
    }

    @Test func zeroPointRoundsHalfToEven() throws {
        // [−0.25, 127.25]: S = 127.5/255 = 0.5 exactly; Z = round(255 − 254.5) = round(0.5) = 0 (not 1).
        let down = try QuantizationParameters.compute(minimum: -0.25, maximum: 127.25, bits: 8, signed: false,
                                                      symmetric: false)
        #expect(down.scales == [0.5] && down.zeroPoints == [0])
        // [−0.75, 126.75]: S = 0.5; Z = round(255 − 253.5) = round(1.5) = 2.
        let up = try QuantizationParameters.compute(minimum: -0.75, maximum: 126.75, bits: 8, signed: false,
                                                    symmetric: false)
        #expect(up.scales == [0.5] && up.zeroPoints == [2])
    }

    @Test func constantRange() throws {
        // A constant 3 widens to [0, 3]: S = 3/255, Z = 0; a constant −3 to [−3, 0]: S = 3/255, Z = 255.
        let three = try QuantizationParameters.compute(minimum: 3, maximum: 3, bits: 8, signed: false, symmetric: false)
        #expect(three.scales == [Float(3.0 / 255.0)] && three.zeroPoints == [0])
        let minusThree = try QuantizationParameters.compute(minimum: -3, maximum: -3, bits: 8, signed: false,
                                                            symmetric: false)
        #expect(minusThree.scales == [Float(3.0 / 255.0)] && minusThree.zeroPoints == [255])
        // Symmetric int8: S = 3/127.5, Z = 0.
        let symmetric = try QuantizationParameters.compute(minimum: 3, maximum: 3, bits: 8, signed: true,
                                                           symmetric: true)
        #expect(symmetric.scales == [Float(3.0 / 127.5)] && symmetric.zeroPoints == [0])
    }

    @Test func allZeroRangeGetsTheSmallestScale() throws {
        // S would be 0/255 = 0; it is floored at ε = 2^−23 (PyTorch's eps). Affine: Z = round(255 − 0/ε) = 255.
        let epsilon = Float(1) / Float(1 << 23)
        #expect(QuantizationParameters.smallestScale == epsilon)
        let affine = try QuantizationParameters.compute(minimum: 0, maximum: 0, bits: 8, signed: false,
                                                        symmetric: false)
        #expect(affine.scales == [epsilon] && affine.zeroPoints == [255])
        let int8 = try QuantizationParameters.compute(minimum: 0, maximum: 0, bits: 8, signed: true, symmetric: true)
        #expect(int8.scales == [epsilon] && int8.zeroPoints == [0])
        let uint8 = try QuantizationParameters.compute(minimum: 0, maximum: 0, bits: 8, signed: false, symmetric: true)
        #expect(uint8.scales == [epsilon] && uint8.zeroPoints == [128])
        // Zero is exact whatever Z is: quantize(0) = Z, dequantize(Z) = 0.
        let zeros = Tensor(zeros: [2, 3])
        #expect(dequantize(try quantize(zeros, with: affine)) == zeros)
    }

    @Test func perChannelCompute() throws {
        // Channel 0: [−1, 3] → S = 4/255, Z = 64; channel 1: all zero → S = ε, Z = 255; channel 2: [2, 5] → 5/255, 0.
        let p = try QuantizationParameters.compute(minimums: [-1, 0, 2], maximums: [3, 0, 5], axis: 1, bits: 8,
                                                   signed: false, symmetric: false)
        #expect(p.scales == [Float(4.0 / 255.0), QuantizationParameters.smallestScale, Float(5.0 / 255.0)])
        #expect(p.zeroPoints == [64, 255, 0] && p.axis == 1 && p.channelCount == 3 && p.isPerChannel)
    }

    @Test func badStatisticsThrow() {
        expectShrinkError(.value, containing: ["finite", "nan"]) {
            _ = try QuantizationParameters.compute(minimum: .nan, maximum: 1, bits: 8, signed: true, symmetric: true)
        }
        expectShrinkError(.value, containing: ["channel 1", "inf"]) {
            _ = try QuantizationParameters.compute(minimums: [0, 0], maximums: [1, .infinity], axis: 0, bits: 8,
                                                   signed: true, symmetric: false)
        }
        expectShrinkError(.value, containing: ["above"]) {
            _ = try QuantizationParameters.compute(minimum: 2, maximum: 1, bits: 8, signed: true, symmetric: true)
        }
        expectShrinkError(.value, containing: ["2 minimums", "1 maximums"]) {
            _ = try QuantizationParameters.compute(minimums: [0, 0], maximums: [1], axis: 0, bits: 8, signed: true,
                                                   symmetric: true)
        }
        for bits in [1, 9] {
            expectShrinkError(.value, containing: ["got \(bits)"]) {
                _ = try QuantizationParameters.compute(minimum: -1, maximum: 1, bits: bits, signed: true,
                                                       symmetric: true)
            }
        }
    }

    @Test func initialiserValidates() throws {
        let valid = try QuantizationParameters(scales: [0.5, 2], zeroPoints: [0, -3], bits: 4, signed: true, axis: 0)
        #expect(valid.qmin == -8 && valid.qmax == 7)
        for scale: Float in [0, -1, .infinity, .nan] {
            expectShrinkError(.value, containing: ["scale 0"]) {
                _ = try QuantizationParameters(scales: [scale], zeroPoints: [0], bits: 8, signed: true)
            }
        }
        expectShrinkError(.value, containing: ["256", "0…255"]) {
            _ = try QuantizationParameters(scales: [1], zeroPoints: [256], bits: 8, signed: false)
        }
        expectShrinkError(.value, containing: ["-128", "-127…127"]) {
            _ = try QuantizationParameters(scales: [1], zeroPoints: [-128], bits: 8, signed: true, narrowRange: true)
        }
        expectShrinkError(.value, containing: ["2 scales", "1 zero points"]) {
            _ = try QuantizationParameters(scales: [1, 1], zeroPoints: [0], bits: 8, signed: true, axis: 0)
        }
        expectShrinkError(.value, containing: ["per-tensor"]) {
            _ = try QuantizationParameters(scales: [1, 1], zeroPoints: [0, 0], bits: 8, signed: true)
        }
        expectShrinkError(.value, containing: ["axis", "-1"]) {
            _ = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 8, signed: true, axis: -1)
        }
        expectShrinkError(.value, containing: ["none"]) {
            _ = try QuantizationParameters(scales: [], zeroPoints: [], bits: 8, signed: true, axis: 0)
        }
        expectShrinkError(.value, containing: ["got 9"]) {
            _ = try QuantizationParameters(scales: [1], zeroPoints: [0], bits: 9, signed: true)
        }
    }

    @Test func codableRoundTripAndValidatedDecoding() throws {
        let p = try QuantizationParameters(scales: [0.25, 0.5], zeroPoints: [3, 7], bits: 4, signed: false,
                                           narrowRange: true, axis: 0)
        let decoded = try JSONDecoder().decode(QuantizationParameters.self, from: JSONEncoder().encode(p))
        #expect(decoded == p)
        let minimal = #"{"scales":[0.5],"zeroPoints":[128],"bits":8,"signed":false}"#
        let perTensor = try JSONDecoder().decode(QuantizationParameters.self, from: Data(minimal.utf8))
        #expect(perTensor.axis == nil && !perTensor.narrowRange && perTensor.zeroPoints == [128])
        let zeroScale = #"{"scales":[0],"zeroPoints":[0],"bits":8,"signed":true}"#
        expectShrinkError(.value, containing: ["scale 0"]) {
            _ = try JSONDecoder().decode(QuantizationParameters.self, from: Data(zeroScale.utf8))
        }
    }

    @Test func descriptionNamesTypeAndGranularity() throws {
        let p = try QuantizationParameters.compute(minimum: -1, maximum: 3, bits: 8, signed: false, symmetric: false)
        #expect(p.description == "uint8 per-tensor S=\(Float(4.0 / 255.0)) Z=64")
        let channels = try QuantizationParameters(scales: [1, 2], zeroPoints: [0, 0], bits: 4, signed: true,
                                                  narrowRange: true, axis: 0)
        #expect(channels.description == "int4 narrow per-channel(axis 0, 2 channels) S=[1.0, 2.0] Z=[0, 0]")
    }
}
