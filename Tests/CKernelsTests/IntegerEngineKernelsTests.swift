// The integer engine's other kernels: requantization, channels-last im2row and max pooling, layout conversion and
// the GEMM on weights packed once. The vectorized and portable paths give the same bytes as a reference written out
// here element by element.
import CKernels
import Tensors
import Testing

private func uint8s(_ count: Int, _ g: inout SeededGenerator) -> [UInt8] {
    (0..<count).map { _ in UInt8(g.nextInt(below: 256)) }
}

/// The requantization formula, written out: in float, the accumulator times the multiplier plus the offset scaled in
/// double and rounded once, clamped to the bounds less the zero point, rounded half to even, plus the zero point.
private func requantized(_ acc: Int32, offset: Double, multiplier: Float, _ zeroPoint: Int32, _ low: Int32,
                         _ high: Int32) -> UInt8 {
    let c = Float(offset * Double(multiplier))
    let product: Float = Float(acc) * multiplier
    let scaled: Float = product + c
    let clamped = min(max(scaled, Float(low - zeroPoint)), Float(high - zeroPoint))
    return UInt8(Int32(clamped.rounded(.toNearestOrEven)) + zeroPoint)
}

@Suite struct IntegerEngineKernelsTests {
    @Test(arguments: [(1, 1, 1), (3, 16, 16), (5, 37, 40), (2, 64, 64), (4, 10, 23)])
    func requantizationPathsAgreeWithTheFormula(rows: Int, columns: Int, lda: Int) {
        var g = SeededGenerator(seed: UInt64(rows * 100 + columns))
        // Accumulators from small to beyond what a layer produces, so clamping both ways and ties are exercised.
        let acc = (0..<(rows * lda)).map { i -> Int32 in
            i % 7 == 0 ? Int32(g.nextInt(below: 1 << 30)) - (1 << 29) : Int32(g.nextInt(below: 20_001)) - 10_000
        }
        // Offsets with fractions (a bias in accumulator units) and whole ones.
        let offset = (0..<columns).map { j in Double(g.nextInt(below: 4001) - 2000) + (j % 2 == 0 ? 0 : 0.25) }
        // Multipliers of 1/2, 1/4 … make exact halves, where rounding half to even shows.
        var multiplier = [Float](repeating: 0, count: columns)
        for j in 0..<columns {
            let half = Float(1) / Float(1 << (1 + j % 4))
            multiplier[j] = j % 3 == 0 ? half : g.nextUniform() * 0.02
        }
        for (zeroPoint, low, high) in [(Int32(0), Int32(0), Int32(255)), (128, 0, 255), (37, 37, 200)] {
            var expected = [UInt8](repeating: 0, count: rows * columns)
            for i in 0..<rows {
                for j in 0..<columns {
                    expected[i * columns + j] = requantized(acc[i * lda + j], offset: offset[j],
                                                            multiplier: multiplier[j], zeroPoint, low, high)
                    // Within half a step (and a float rounding) of the exact value.
                    let exact = Double(multiplier[j]) * (Double(acc[i * lda + j]) + offset[j])
                    let exactCode = min(max(exact + Double(zeroPoint), Double(low)), Double(high))
                    #expect(abs(Double(expected[i * columns + j]) - exactCode) <= 0.5 + 1e-4 * max(1, abs(exact)))
                }
            }
            for vectorized in [Int32(CK_VECTOR_PORTABLE), Int32(CK_VECTOR_AVX512), Int32(CK_VECTOR_AVX2)] {
                var out = [UInt8](repeating: 7, count: rows * columns)
                let ran = ck_requantize_u8_with(vectorized, acc, Int64(rows), Int64(columns), Int64(lda), offset,
                                                multiplier, zeroPoint, low, high, &out, Int64(columns))
                if ran == 0 { continue }  // this CPU lacks the path
                #expect(out == expected, "vectorized \(vectorized), zero point \(zeroPoint), bounds \(low)…\(high)")
            }
        }
    }

    /// The integer add against its formula (ties included: multipliers of 1/2 make exact halves), two and three
    /// inputs, lengths with a tail past the vector width.
    @Test(arguments: [2, 3])
    func addMatchesTheFormula(count: Int) {
        var g = SeededGenerator(seed: UInt64(count))
        for length in [1, 4, 37] {
            let inputs = (0..<count).map { _ in uint8s(length, &g) }
            let multipliers = (0..<count).map { j in j == 0 ? 0.5 : Double(g.nextUniform()) * 2 }
            let zeros = (0..<count).map { _ in Double(g.nextInt(below: 256)) }
            let (zy, low, high) = (17.0, 0.0, 200.0)
            let expected = (0..<length).map { i -> UInt8 in
                var total = 0.0
                for j in 0..<count { total += multipliers[j] * (Double(inputs[j][i]) - zeros[j]) }
                return UInt8(min(max(total.rounded(.toNearestOrEven) + zy, low), high))
            }
            for vectorized in [Int32(0), 1] {
                var out = [UInt8](repeating: 3, count: length)
                let ran = inputs[0].withUnsafeBufferPointer { a in
                    inputs[1].withUnsafeBufferPointer { b in
                        inputs[count - 1].withUnsafeBufferPointer { c in
                            ck_add_u8_with(vectorized, [a.baseAddress, b.baseAddress, c.baseAddress], Int64(count),
                                           Int64(length), multipliers, zeros, zy, low, high, &out)
                        }
                    }
                }
                if ran == 0 { continue }
                #expect(out == expected, "vectorized \(vectorized), length \(length)")
            }
        }
    }

    /// The integer product against its formula for same-shape inputs and (C, 1, 1) gates in both layouts, with a
    /// multiplier of 1/2 (exact halves, where rounding half to even shows) and one that is not.
    @Test(arguments: [(1, 37, 0, 1), (9, 20, 0, 1), (6, 13, 1, 0)])
    func multiplyMatchesTheFormula(rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
        var g = SeededGenerator(seed: UInt64(rows * 100 + columns))
        let a = uint8s(rows * columns, &g)
        let b = uint8s(max(rows * rowStride, 1) + columns * columnStride, &g)
        for multiplier in [0.5, 0.0123] {
            let (za, zb, zy, low, high) = (Int32(100), Int32(3), 40.0, 0.0, 230.0)
            var expected = [UInt8]()
            for r in 0..<rows { for j in 0..<columns {
                let p = Double((Int32(a[r * columns + j]) - za) * (Int32(b[r * rowStride + j * columnStride]) - zb))
                expected.append(UInt8(min(max((multiplier * p).rounded(.toNearestOrEven) + zy, low), high)))
            }}
            for vectorized in [Int32(0), 1] {
                var out = [UInt8](repeating: 1, count: a.count)
                let ran = ck_multiply_u8_with(vectorized, a, b, Int64(rows), Int64(columns), Int64(rowStride),
                                              Int64(columnStride), za, zb, multiplier, zy, low, high, &out)
                if ran == 0 { continue }
                #expect(out == expected, "vectorized \(vectorized), multiplier \(multiplier)")
            }
        }
    }

    /// The direct depthwise kernel against the sum written out tap by tap (padding cells reading the padding code),
    /// requantized by the formula; every path, whole runs of 16 channels and a tail, a band of output rows.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 2), (3, 2, 0)])
    func depthwiseMatchesTheTapSum(kernel: Int, stride: Int, padding: Int) {
        var g = SeededGenerator(seed: UInt64(kernel * 100 + stride * 10 + padding))
        for channels in [1, 16, 40, 48, 72] {  // 48 and 72: 32 a vector, then 16 (AVX2) and 8 (scalar) left
            let (h, w) = (9, 7)
            let x = uint8s(h * w * channels, &g)
            let weights = (0..<(kernel * kernel * channels)).map { _ in Int8(g.nextInt(below: 256) - 128) }
            let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
            let offset = (0..<channels).map { _ in Double(g.nextInt(below: 20_001) - 10_000) + 0.5 }
            let multiplier = (0..<channels).map { _ in Float(g.nextUniform() * 0.001) }
            let (code, zeroPoint, low, high) = (UInt8(113), Int32(90), Int32(90), Int32(250))
            let (first, count) = (1, ho - 1)
            var expected = [UInt8]()
            for oy in first..<(first + count) { for ox in 0..<wo { for c in 0..<channels {
                var sum = 0
                for ky in 0..<kernel { for kx in 0..<kernel {
                    let y = oy * stride - padding + ky, xx = ox * stride - padding + kx
                    let v = y >= 0 && y < h && xx >= 0 && xx < w ? Int(x[(y * w + xx) * channels + c]) : Int(code)
                    sum += v * Int(weights[(ky * kernel + kx) * channels + c])
                }}
                expected.append(requantized(Int32(sum), offset: offset[c], multiplier: multiplier[c], zeroPoint, low,
                                            high))
            }}}
            for vectorized in [Int32(0), 1, 2] {
                var out = [UInt8](repeating: 7, count: count * wo * channels)
                let ran = ck_depthwise_u8_nhwc_with(vectorized, x, Int64(h), Int64(w), Int64(channels), weights,
                                                    Int64(kernel), Int64(stride), Int64(padding), code, offset,
                                                    multiplier, zeroPoint, low, high, &out, Int64(first), Int64(count))
                if ran == 0 { continue }
                #expect(out == expected, "vectorized \(vectorized), \(channels) channels")
            }
        }
    }

    @Test(arguments: [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
    func channelsLastMaxPoolMatchesTheWindowMaximum(kernel: Int, stride: Int, padding: Int) {
        var g = SeededGenerator(seed: UInt64(kernel * 10 + stride))
        for channels in [1, 3, 64, 70] {
            let (batch, h, w) = (2, 7, 6)
            let x = uint8s(batch * h * w * channels, &g)
            let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
            var expected = [UInt8](repeating: 0, count: batch * ho * wo * channels)
            for s in 0..<batch { for oy in 0..<ho { for ox in 0..<wo { for c in 0..<channels {
                var best = 0
                for ky in 0..<kernel { for kx in 0..<kernel {
                    let y = oy * stride - padding + ky, xx = ox * stride - padding + kx
                    if y >= 0 && y < h && xx >= 0 && xx < w { best = max(best, Int(x[((s * h + y) * w + xx) * channels + c])) }
                } }
                expected[((s * ho + oy) * wo + ox) * channels + c] = UInt8(best)
            } } } }
            for vectorized in [Int32(CK_VECTOR_PORTABLE), Int32(CK_VECTOR_AVX512), Int32(CK_VECTOR_AVX2)] {
                var out = [UInt8](repeating: 9, count: expected.count)
                let ran = ck_maxpool2d_u8_nhwc_with(vectorized, x, Int64(batch), Int64(h), Int64(w), Int64(channels),
                                                    Int64(kernel), Int64(stride), Int64(padding), &out, Int64(ho), Int64(wo))
                if ran == 0 { continue }
                #expect(out == expected, "vectorized \(vectorized), channels \(channels)")
            }
        }
    }

    @Test(arguments: [(6, 1, 1, 1, 1), (6, 1, 3, 2, 1), (6, 3, 3, 1, 2), (4, 4, 1, 1, 0), (5, 2, 3, 2, 0), (70, 1, 3, 1, 1), (1, 1, 3, 1, 1)])
    func channelsLastIm2rowMatchesItsDefinition(channels: Int, groups: Int, kernel: Int, stride: Int, padding: Int) {
        var g = SeededGenerator(seed: UInt64(channels * 100 + kernel * 10 + stride))
        let (h, w) = (5, 7), pad: UInt8 = 131
        let x = uint8s(h * w * channels, &g)
        let cg = channels / groups, depth = kernel * kernel * cg
        let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
        for group in 0..<groups {
            var expected = [UInt8](repeating: 0, count: ho * wo * depth)
            for oy in 0..<ho { for ox in 0..<wo { for ky in 0..<kernel { for kx in 0..<kernel { for c in 0..<cg {
                let y = oy * stride - padding + ky, xx = ox * stride - padding + kx
                let value = y >= 0 && y < h && xx >= 0 && xx < w ? x[(y * w + xx) * channels + group * cg + c] : pad
                expected[(oy * wo + ox) * depth + (ky * kernel + kx) * cg + c] = value
            } } } } }
            // Row stride depth + 3: the bytes past each row are left as they were.
            let ldr = depth + 3
            for vectorized in [Int32(0), 1] {
                var rows = [UInt8](repeating: 77, count: ho * wo * ldr)
                let ran = ck_im2row_u8_nhwc_with(vectorized, x, Int64(h), Int64(w), Int64(channels), Int64(group * cg),
                                                 Int64(cg), Int64(kernel), Int64(stride), Int64(padding), pad, &rows,
                                                 Int64(ldr))
                if ran == 0 { continue }
                let dense = (0..<(ho * wo)).flatMap { r in rows[(r * ldr)..<(r * ldr + depth)] }
                #expect(dense == expected, "group \(group), vectorized \(vectorized)")
                #expect((0..<(ho * wo)).allSatisfy { r in rows[(r * ldr + depth)..<((r + 1) * ldr)].allSatisfy { $0 == 77 } })
            }
        }
    }

    @Test func layoutConversionsAreInverse() {
        var g = SeededGenerator(seed: 3)
        let (batch, channels, pixels) = (3, 5, 12)
        let x = uint8s(batch * channels * pixels, &g)
        var last = [UInt8](repeating: 0, count: x.count), back = last
        ck_nchw_to_nhwc_u8(x, Int64(batch), Int64(channels), Int64(pixels), &last)
        #expect(last[(1 * pixels + 4) * channels + 2] == x[(1 * channels + 2) * pixels + 4])
        ck_nhwc_to_nchw_u8(last, Int64(batch), Int64(channels), Int64(pixels), &back)
        #expect(back == x)
    }

    @Test(arguments: [(1, 5, 9), (3, 40, 100), (4, 32, 4), (29, 70, 1025), (200, 64, 288), (15, 33, 7)])
    func packedWeightsGiveTheSameIntegers(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 7 + n + k))
        let a = uint8s(m * (k + 3), &g)  // row stride k + 3: the packed path honours lda
        let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: g.nextInt(below: 256)) }
        var expected = [Int32](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += Int32(a[i * (k + 3) + p]) * Int32(b[j * k + p]) } } }
        let weights = PackedInt8Weights(values: b, rows: n)
        for backend in IntegerGEMMBackend.allCases {
            var c = [Int32](repeating: -1, count: m * (n + 2))
            a.withUnsafeBufferPointer { pa in
                c.withUnsafeMutableBufferPointer { pc in
                    IntegerGEMM.u8s8(m: m, a: pa.baseAddress!, lda: k + 3, weights: weights, c: pc.baseAddress!,
                                     ldc: n + 2, backend: backend)
                }
            }
            let dense = (0..<m).flatMap { i in c[(i * (n + 2))..<(i * (n + 2) + n)] }
            #expect(dense == expected, "backend \(backend)")
            #expect((0..<m).allSatisfy { i in c[i * (n + 2) + n] == -1 && c[i * (n + 2) + n + 1] == -1 },
                    "backend \(backend) wrote outside its columns")
        }
    }

    @Test(arguments: [(20, 40, 12, 12, 255), (20, 40, 10, 10, 255), (33, 70, 9, 12, 180), (5, 33, 288, 288, 255),
                      (3, 8, 20, 20, 255), (30, 16, 24, 24, 160), (15, 64, 32, 32, 255)])
    func fusedRequantizationGivesTheBytesOfTheTwoSteps(m: Int, n: Int, k: Int, lda: Int, high: Int32) {
        // lda = k with k % 4 ≠ 0 packs A; a padded lda lets the kernel read A in place; m < 4 takes the dot path;
        // m ≥ 14 runs whole and partial 14-row panels, requantized in the VNNI kernel's registers, and n = 16 or 64
        // half or whole 32-column panels; a high bound below 255 is a fused ReLU6's.
        var g = SeededGenerator(seed: UInt64(m + n + k + lda))
        let a = uint8s(m * lda, &g)
        let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: g.nextInt(below: 256)) }
        let offset = (0..<n).map { _ in Double(g.nextInt(below: 200_001) - 100_000) + 0.5 }
        let multiplier = (0..<n).map { _ in Float(g.nextInt(below: 1000) + 1) * 1e-6 }
        var accumulators = [Int32](repeating: 0, count: m * n)
        ck_gemm_u8s8(Int64(m), Int64(n), Int64(k), a, Int64(lda), b, Int64(k), &accumulators, Int64(n))
        var expected = [UInt8](repeating: 0, count: m * n)
        ck_requantize_u8(accumulators, Int64(m), Int64(n), Int64(n), offset, multiplier, 100, 100, high, &expected,
                         Int64(n))
        let weights = PackedInt8Weights(values: b, rows: n)
        var fused = [UInt8](repeating: 0xAB, count: m * (n + 1))
        weights.values.withUnsafeBufferPointer { pb in
            weights.packed.withUnsafeBufferPointer { pp in
                ck_gemm_u8s8_requantize(Int64(m), Int64(n), Int64(k), a, Int64(lda), pb.baseAddress!, Int64(k),
                                        pp.isEmpty ? nil : pp.baseAddress!, offset, multiplier, 100, 100, high, &fused,
                                        Int64(n + 1))
            }
        }
        #expect((0..<m).flatMap { i in fused[(i * (n + 1))..<(i * (n + 1) + n)] } == expected)
        #expect((0..<m).allSatisfy { i in fused[i * (n + 1) + n] == 0xAB }, "wrote past a row's columns")
        #expect(Set(expected).count >= min(10, m * n / 3), "the test data should spread over many codes")
    }
}
