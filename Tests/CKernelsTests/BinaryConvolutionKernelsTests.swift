// The bit-packed pieces of a binary convolution: sign planes per position and im2row rows, checked bit by bit
// against their definitions, padding taps included (written as +1 bits).
import CKernels
import Tensors
import Testing

@Suite struct BinaryConvolutionKernelsTests {
    func bit(_ words: [UInt64], _ index: Int) -> Bool { words[index / 64] >> UInt64(index % 64) & 1 == 1 }

    @Test(arguments: [1, 3, 64, 70])
    func signPlanesHoldEachPositionsChannelBits(channels: Int) {
        var g = SeededGenerator(seed: UInt64(channels))
        let positions = 11
        let x = (0..<(channels * positions)).map { _ in Float(g.nextInt(below: 5)) - 2 }
        let words = (channels + 63) / 64
        var planes = [UInt64](repeating: .max, count: positions * words)
        ck_pack_signs_channels(x, Int64(channels), Int64(positions), &planes)
        for p in 0..<positions {
            let slice = Array(planes[(p * words)..<((p + 1) * words)])
            for c in 0..<(words * 64) {
                #expect(bit(slice, c) == (c < channels && x[c * positions + p] >= 0), "position \(p), bit \(c)")
            }
        }
    }

    @Test(arguments: [(3, 5, 4, 3, 1, 1), (70, 4, 6, 3, 2, 1), (32, 7, 7, 5, 1, 2), (1, 3, 3, 3, 1, 0)])
    func rowsConcatenateTapsWithOnesInThePadding(c: Int, h: Int, w: Int, k: Int, stride: Int, pad: Int) {
        var g = SeededGenerator(seed: UInt64(c * h + k))
        let x = (0..<(c * h * w)).map { _ in Float(g.nextInt(below: 3)) - 1 }
        let words = (c + 63) / 64
        var planes = [UInt64](repeating: 0, count: h * w * words)
        ck_pack_signs_channels(x, Int64(c), Int64(h * w), &planes)
        let oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1
        let rowWords = (k * k * c + 63) / 64
        var rows = [UInt64](repeating: .max, count: oh * ow * rowWords)
        let ones = [UInt64](repeating: .max, count: words)
        ck_im2row_binary(planes, Int64(c), Int64(h), Int64(w), Int64(k), Int64(stride), Int64(pad), Int64(oh), Int64(ow),
                         ones, &rows)
        for oy in 0..<oh {
            for ox in 0..<ow {
                let row = Array(rows[((oy * ow + ox) * rowWords)..<((oy * ow + ox + 1) * rowWords)])
                for index in 0..<(rowWords * 64) {
                    let expected: Bool
                    if index >= k * k * c {
                        expected = false  // tail bits are 0
                    } else {
                        let tap = index / c, ch = index % c
                        let iy = oy * stride - pad + tap / k, ix = ox * stride - pad + tap % k
                        let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                        expected = inside ? x[(ch * h + iy) * w + ix] >= 0 : true
                    }
                    #expect(bit(row, index) == expected, "(\(oy), \(ox)) bit \(index)")
                }
            }
        }
    }
}
