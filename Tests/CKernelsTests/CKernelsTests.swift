// CKernels: feature detection is consistent, and the max-pool plane kernel matches a hand-worked example.
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
}
