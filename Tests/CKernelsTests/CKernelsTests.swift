// CKernels: feature detection is consistent, and the max-pool plane kernel matches a hand-worked example and, for
// inference (vectorized on AVX-512 at strides 1 and 2), the bits of the training loop that also records the argmax.
import CKernels
import Testing

@Suite struct CKernelsTests {
    @Test func featureFlagsAreConsistent() {
        let f = ck_cpu_features()
        if f & UInt32(CK_FEATURE_AVX512VNNI) != 0 { #expect(f & UInt32(CK_FEATURE_AVX512F) != 0) }
    }

    @Test func maxPoolPlaneByHand() {
        // 4×4 plane 0…15, 2×2 windows, stride 2 → maxima 5, 7, 13, 15 at the same flat indices.
        let input = (0..<16).map(Float.init)
        var output = [Float](repeating: 0, count: 4), argmax = [Int32](repeating: -1, count: 4)
        input.withUnsafeBufferPointer { pi in
            ck_maxpool2d_plane(pi.baseAddress!, 4, 4, 2, 2, 0, &output, 2, 2, &argmax)
        }
        #expect(output == [5, 7, 13, 15])
        #expect(argmax == [5, 7, 13, 15])
        // 3×3 window with padding 1 on a 2×2 plane of negatives: padding is never the maximum.
        let negatives: [Float] = [-4, -3, -2, -1]
        var one = [Float](repeating: 0, count: 1), index = [Int32](repeating: -1, count: 1)
        negatives.withUnsafeBufferPointer { pi in ck_maxpool2d_plane(pi.baseAddress!, 2, 2, 3, 2, 1, &one, 1, 1, &index) }
        #expect(one == [-1] && index == [3])
    }

    /// Inference keeps, bit for bit, the value the argmax loop keeps: every window size, stride and padding over
    /// planes narrower and wider than a vector, with ties, signed zeros and NaNs among the values.
    @Test func maxPoolInferenceMatchesTheArgmaxLoop() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var checked = 0
        for kernel in 1...5 {
            for stride in 1...3 {
                for padding in 0...(kernel / 2) {
                    for (height, width) in [(5, 5), (7, 23), (12, 40), (3, 70)] where height + 2 * padding >= kernel {
                        let input: [Float] = (0..<(height * width)).map { _ in
                            switch next() % 16 {
                            case 0: return 0
                            case 1: return -0.0
                            case 2: return .nan
                            case 3: return 1
                            default: return Float(Int(next() % 2001) - 1000) / 100
                            }
                        }
                        let oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1
                        guard oh > 0, ow > 0 else { continue }
                        var fast = [Float](repeating: 7, count: oh * ow), slow = fast
                        var argmax = [Int32](repeating: -1, count: oh * ow)
                        input.withUnsafeBufferPointer { pi in
                            ck_maxpool2d_plane(pi.baseAddress!, Int32(height), Int32(width), Int32(kernel), Int32(stride),
                                               Int32(padding), &fast, Int32(oh), Int32(ow), nil)
                            ck_maxpool2d_plane(pi.baseAddress!, Int32(height), Int32(width), Int32(kernel), Int32(stride),
                                               Int32(padding), &slow, Int32(oh), Int32(ow), &argmax)
                        }
                        #expect(fast.map(\.bitPattern) == slow.map(\.bitPattern),
                                "kernel \(kernel) stride \(stride) padding \(padding) plane \(height)×\(width)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 100)
    }
}
