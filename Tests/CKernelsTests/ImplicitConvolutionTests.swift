// The implicit-GEMM float convolution (ck_conv2d_forward): against the definition summed in double on each path
// (AVX-512, AVX2 + FMA and portable C), over kernel sizes, strides (1, 2 and the gathered 3 and 4), paddings,
// channel counts that do not fill a register tile or that span several blocks of the unfolded input, 1×1 convs read
// in place, and planes that are not square; a split of the output pixels (as threads split them) gives the same
// bits as one call, and the AVX-512 path the same bits as the AVX2 one (the same chain of FMAs per output). The
// channel tiles (ck_conv2d_forward_channels: output channels on the lanes) give the pixel tiles' bits too.
import CKernels
import Tensors
import Testing

private struct Case: CustomStringConvertible, Sendable {
    let channels, outputs, height, width, kernel, stride, pad: Int
    let bias: Bool
    var outHeight: Int { (height + 2 * pad - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * pad - kernel) / stride + 1 }
    var depth: Int { channels * kernel * kernel }
    var description: String { "C\(channels)→\(outputs) \(height)×\(width) k\(kernel) s\(stride) p\(pad)\(bias ? "" : " no bias")" }
}

private let cases = [
    Case(channels: 3, outputs: 8, height: 9, width: 9, kernel: 3, stride: 2, pad: 1, bias: true),
    Case(channels: 4, outputs: 7, height: 7, width: 7, kernel: 3, stride: 1, pad: 1, bias: true),
    Case(channels: 5, outputs: 13, height: 12, width: 10, kernel: 5, stride: 1, pad: 2, bias: false),
    Case(channels: 40, outputs: 6, height: 6, width: 5, kernel: 3, stride: 1, pad: 1, bias: true),   // depth 360: 2 blocks
    Case(channels: 2, outputs: 130, height: 11, width: 13, kernel: 3, stride: 3, pad: 0, bias: true), // > one row block
    Case(channels: 3, outputs: 5, height: 15, width: 15, kernel: 7, stride: 2, pad: 3, bias: true),
    Case(channels: 8, outputs: 16, height: 23, width: 23, kernel: 1, stride: 1, pad: 0, bias: true),  // 529 pixels
    Case(channels: 1, outputs: 1, height: 3, width: 3, kernel: 3, stride: 1, pad: 0, bias: false),    // one pixel
    Case(channels: 300, outputs: 20, height: 7, width: 7, kernel: 1, stride: 1, pad: 0, bias: true), // in place, 2 blocks
    Case(channels: 6, outputs: 11, height: 19, width: 41, kernel: 1, stride: 2, pad: 0, bias: true), // strided 1×1
    Case(channels: 4, outputs: 9, height: 37, width: 45, kernel: 3, stride: 2, pad: 1, bias: true),  // runs of 16 at stride 2
    Case(channels: 3, outputs: 6, height: 30, width: 34, kernel: 5, stride: 3, pad: 2, bias: true),  // stride 3: a gather
    Case(channels: 2, outputs: 4, height: 40, width: 40, kernel: 4, stride: 4, pad: 0, bias: false), // stride 4
    Case(channels: 9, outputs: 64, height: 20, width: 21, kernel: 3, stride: 1, pad: 1, bias: true), // 420 pixels: > 1 block
    Case(channels: 16, outputs: 16, height: 14, width: 14, kernel: 3, stride: 1, pad: 1, bias: true), // panels across rows
    Case(channels: 3, outputs: 8, height: 5, width: 37, kernel: 3, stride: 1, pad: 1, bias: false),  // rows wider than a panel
]

/// Small planes the channel tiles are for: channel counts that fill 1, 2 or 3 panels of 16 or part of one, depths of
/// several blocks of rows, pixel counts that leave a tail of fewer than 8.
private let channelCases = cases + [
    Case(channels: 400, outputs: 40, height: 7, width: 7, kernel: 1, stride: 1, pad: 0, bias: true),  // in place, 2 blocks
    Case(channels: 64, outputs: 50, height: 7, width: 7, kernel: 3, stride: 1, pad: 1, bias: true),   // 576 rows: 3 blocks
    Case(channels: 24, outputs: 96, height: 14, width: 14, kernel: 1, stride: 2, pad: 0, bias: false), // 2 tiles of 48
    Case(channels: 16, outputs: 16, height: 5, width: 5, kernel: 3, stride: 2, pad: 1, bias: true),   // 9 pixels
    Case(channels: 32, outputs: 33, height: 3, width: 3, kernel: 1, stride: 1, pad: 0, bias: true),   // a 1-channel panel
    Case(channels: 64, outputs: 16, height: 80, width: 80, kernel: 3, stride: 1, pad: 1, bias: true), // direct: 2 bands
    Case(channels: 48, outputs: 32, height: 100, width: 99, kernel: 3, stride: 2, pad: 1, bias: false), // bands, stride 2
    Case(channels: 1, outputs: 32, height: 28, width: 28, kernel: 3, stride: 1, pad: 1, bias: true),  // fmnist-cnn's conv1
]

private func values(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() * 2 - 1 }
}

private func run(_ c: Case, path: Int32, x: [Float], packed: [Float], bias: [Float]?,
                 pixels: [Range<Int>], rows: [Range<Int>]? = nil, activation: ck_fused_activation? = nil) -> [Float]? {
    let fused = [activation ?? ck_fused_activation(kind: 0, cap: 0)]
    var y = [Float](repeating: .nan, count: c.outputs * c.outHeight * c.outWidth)
    for range in pixels {
        for band in rows ?? [0..<c.outputs] {
            let done = y.withUnsafeMutableBufferPointer { py in fused.withUnsafeBufferPointer { pact in
                ck_conv2d_forward_with(path, packed, Int64(c.outputs), x, Int64(c.channels), Int64(c.height),
                                       Int64(c.width), Int64(c.kernel), Int64(c.stride), Int64(c.pad), bias,
                                       py.baseAddress!, Int64(c.outHeight), Int64(c.outWidth), Int64(range.lowerBound),
                                       Int64(range.upperBound), Int64(band.lowerBound), Int64(band.upperBound),
                                       activation == nil ? nil : pact.baseAddress)
            } }
            if done == 0 { return nil }
        }
    }
    return y
}

/// `direct` nil: ck_conv2d_forward_channels' own choice; 0 or 1: ck_conv2d_forward_channels_with that way.
private func runChannels(_ c: Case, direct: Int32? = nil, x: [Float], packed: [Float], bias: [Float]?,
                         pixels: [Range<Int>], rows: [Range<Int>], activation: ck_fused_activation? = nil) -> [Float]? {
    let fused = [activation ?? ck_fused_activation(kind: 0, cap: 0)]
    var y = [Float](repeating: .nan, count: c.outputs * c.outHeight * c.outWidth)
    for range in pixels {
        for band in rows {
            let done = y.withUnsafeMutableBufferPointer { py in fused.withUnsafeBufferPointer { pact in
                let forward = direct.map { way in { ck_conv2d_forward_channels_with(way, $0, $1, $2, $3, $4, $5, $6, $7,
                                                                                    $8, $9, $10, $11, $12, $13, $14,
                                                                                    $15, $16, $17) } }
                    ?? ck_conv2d_forward_channels
                return forward(packed, Int64(c.outputs), x, Int64(c.channels), Int64(c.height), Int64(c.width),
                               Int64(c.kernel), Int64(c.stride), Int64(c.pad), bias, py.baseAddress!,
                               Int64(c.outHeight), Int64(c.outWidth), Int64(range.lowerBound),
                               Int64(range.upperBound), Int64(band.lowerBound), Int64(band.upperBound),
                               activation == nil ? nil : pact.baseAddress)
            } }
            if done == 0 { return nil }
        }
    }
    return y
}

@Suite struct ImplicitConvolutionTests {
    @Test(arguments: channelCases)
    fileprivate func channelTilesGiveThePixelTilesBits(_ c: Case) throws {
        let x = values(c.channels * c.height * c.width, seed: 1)
        let w = values(c.outputs * c.depth, seed: 2)
        let bias = c.bias ? values(c.outputs, seed: 3) : nil
        var packed = [Float](repeating: 0, count: Int(ck_conv2d_packed_size(Int64(c.outputs), Int64(c.depth))))
        ck_conv2d_pack_weights(w, Int64(c.outputs), Int64(c.depth), &packed)
        var channelPacked = [Float](repeating: 0,
                                    count: Int(ck_conv2d_channel_packed_size(Int64(c.outputs), Int64(c.depth))))
        ck_conv2d_pack_channel_weights(w, Int64(c.outputs), Int64(c.depth), &channelPacked)
        let pixels = c.outHeight * c.outWidth
        let whole = [0..<c.outputs]
        let wanted = UInt32(CK_FEATURE_AVX512F) | UInt32(CK_FEATURE_FMA)
        guard ck_cpu_features() & wanted == wanted else {
            #expect(runChannels(c, x: x, packed: channelPacked, bias: bias, pixels: [0..<pixels], rows: whole) == nil)
            return
        }
        // The pixel tiles on the AVX2 path: the AVX-512 pixel tiles give its bits (the test above).
        let activations: [ck_fused_activation?] = [nil, ck_fused_activation(kind: Int32(CK_ACTIVATION_CLAMP), cap: 6),
                                                   ck_fused_activation(kind: Int32(CK_ACTIVATION_HARDSWISH), cap: 0)]
        let cuts = [0, min(pixels, 5), min(pixels, 24), min(pixels, 29), pixels]
        let pieces = zip(cuts, cuts.dropFirst()).map { $0..<$1 }.filter { !$0.isEmpty }
        let rowCuts = [0, min(c.outputs, 16), min(c.outputs, 64), c.outputs]
        let bands = zip(rowCuts, rowCuts.dropFirst()).map { $0..<$1 }.filter { !$0.isEmpty }
        for activation in activations {
            let expected = try #require(run(c, path: 1, x: x, packed: packed, bias: bias, pixels: [0..<pixels],
                                            activation: activation))
            // Each way of reading the taps (its own choice, gathered panels or the input in place, the padded copy),
            // whole and split.
            for direct in [nil, 0, 1] as [Int32?] where direct != 1 || c.stride <= 2 {
                for (split, (p, r)) in [("whole", ([0..<pixels], whole)), ("split", (pieces, bands))] {
                    let y = try #require(runChannels(c, direct: direct, x: x, packed: channelPacked, bias: bias,
                                                     pixels: p, rows: r, activation: activation))
                    #expect(y.map(\.bitPattern) == expected.map(\.bitPattern),
                            "\(c), \(split), direct \(direct.map(String.init) ?? "auto"), activation \(activation.map { "\($0.kind)" } ?? "none")")
                }
            }
        }
        #expect(runChannels(c, direct: 1, x: x, packed: channelPacked, bias: bias, pixels: [0..<pixels], rows: whole)
                    == nil || c.stride <= 2, "the padded copy refuses strides above 2")
        // Rows that do not start a panel of 16, or run past the outputs, and pixels past the plane are refused.
        for (start, end, pixelEnd) in [(1, c.outputs, pixels), (0, c.outputs + 1, pixels), (0, c.outputs, pixels + 1)] {
            var y = [Float](repeating: 0, count: c.outputs * pixels)
            #expect(ck_conv2d_forward_channels(channelPacked, Int64(c.outputs), x, Int64(c.channels), Int64(c.height),
                                               Int64(c.width), Int64(c.kernel), Int64(c.stride), Int64(c.pad), bias,
                                               &y, Int64(c.outHeight), Int64(c.outWidth), 0, Int64(pixelEnd),
                                               Int64(start), Int64(end), nil) == 0)
        }
    }


    @Test(arguments: cases)
    fileprivate func everyPathFollowsTheDefinition(_ c: Case) {
        let x = values(c.channels * c.height * c.width, seed: 1)
        let w = values(c.outputs * c.depth, seed: 2)
        let bias = c.bias ? values(c.outputs, seed: 3) : nil
        var packed = [Float](repeating: 0, count: Int(ck_conv2d_packed_size(Int64(c.outputs), Int64(c.depth))))
        ck_conv2d_pack_weights(w, Int64(c.outputs), Int64(c.depth), &packed)
        let pixels = c.outHeight * c.outWidth
        // The definition, in double, with the sum of |terms| for the tolerance.
        var reference = [Double](repeating: 0, count: c.outputs * pixels), scale = reference
        for o in 0..<c.outputs {
            for oy in 0..<c.outHeight {
                for ox in 0..<c.outWidth {
                    var sum = Double(bias?[o] ?? 0), magnitude = abs(sum)
                    for ch in 0..<c.channels {
                        for ky in 0..<c.kernel {
                            for kx in 0..<c.kernel {
                                let iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx
                                guard iy >= 0, iy < c.height, ix >= 0, ix < c.width else { continue }
                                let term = Double(w[o * c.depth + (ch * c.kernel + ky) * c.kernel + kx])
                                    * Double(x[(ch * c.height + iy) * c.width + ix])
                                sum += term
                                magnitude += abs(term)
                            }
                        }
                    }
                    reference[o * pixels + oy * c.outWidth + ox] = sum
                    scale[o * pixels + oy * c.outWidth + ox] = magnitude
                }
            }
        }
        var ran = 0
        var byPath: [Int32: [Float]] = [:]
        for path in Int32(0)...2 {
            guard let y = run(c, path: path, x: x, packed: packed, bias: bias, pixels: [0..<pixels]) else { continue }
            ran += 1
            byPath[path] = y
            for i in y.indices {
                #expect(abs(Double(y[i]) - reference[i]) <= 1e-5 * max(1, scale[i]),
                        "path \(path), \(c): output \(i) is \(y[i]), expected \(reference[i])")
            }
            // Pixel ranges as threads get them (whole panels of 16, and a ragged one) give the same bits.
            let cuts = [0, min(pixels, 16), min(pixels, 48), min(pixels, 53), pixels]
            let pieces = zip(cuts, cuts.dropFirst()).map { $0..<$1 }.filter { !$0.isEmpty }
            let split = run(c, path: path, x: x, packed: packed, bias: bias, pixels: pieces)!
            #expect(split.map(\.bitPattern) == y.map(\.bitPattern), "path \(path), \(c): split pixels")
            // So do bands of output channels (whole panels of 6), alone and crossed with the pixel split.
            let rowCuts = [0, min(c.outputs, 6), min(c.outputs, 18), c.outputs]
            let bands = zip(rowCuts, rowCuts.dropFirst()).map { $0..<$1 }.filter { !$0.isEmpty }
            let byRows = run(c, path: path, x: x, packed: packed, bias: bias, pixels: [0..<pixels], rows: bands)!
            #expect(byRows.map(\.bitPattern) == y.map(\.bitPattern), "path \(path), \(c): split rows")
            let crossed = run(c, path: path, x: x, packed: packed, bias: bias, pixels: pieces, rows: bands)!
            #expect(crossed.map(\.bitPattern) == y.map(\.bitPattern), "path \(path), \(c): split rows and pixels")
            // A clamp in the tile (ReLU6, ReLU) is ck_clamp of the plain output, bit for bit.
            for cap in [Float(6), .infinity] {
                var expected = y
                ck_clamp(y, &expected, Int64(y.count), cap)
                let clamp = ck_fused_activation(kind: Int32(CK_ACTIVATION_CLAMP), cap: cap)
                let clamped = run(c, path: path, x: x, packed: packed, bias: bias, pixels: pieces, rows: bands,
                                  activation: clamp)!
                #expect(clamped.map(\.bitPattern) == expected.map(\.bitPattern), "path \(path), \(c): clamp \(cap)")
            }
            // So is hard-swish in the tile ck_hardswish of the plain output.
            do {
                var expected = y
                ck_hardswish(y, &expected, Int64(y.count))
                let hardSwish = ck_fused_activation(kind: Int32(CK_ACTIVATION_HARDSWISH), cap: 0)
                let activated = run(c, path: path, x: x, packed: packed, bias: bias, pixels: pieces, rows: bands,
                                    activation: hardSwish)!
                #expect(activated.map(\.bitPattern) == expected.map(\.bitPattern), "path \(path), \(c): hard-swish")
            }
        }
        #expect(ran >= 1)
        #expect(byPath[ck_conv2d_path()] != nil, "the path this CPU takes ran")
        if let avx2 = byPath[1], let avx512 = byPath[2] {
            #expect(avx512.map(\.bitPattern) == avx2.map(\.bitPattern), "\(c): AVX-512 and AVX2 paths differ")
        }
        #expect(ck_conv2d_forward_with(3, packed, 1, x, 1, 1, 1, 1, 1, 0, nil, nil, 1, 1, 0, 0, 0, 1, nil) == 0)
        // Rows that do not start a panel, or run past the outputs, are refused.
        #expect(ck_conv2d_forward_with(0, packed, Int64(c.outputs), x, 1, 1, 1, 1, 1, 0, nil, nil, 1, 1, 0, 0, 1,
                                       Int64(c.outputs), nil) == 0)
        #expect(ck_conv2d_forward_with(0, packed, Int64(c.outputs), x, 1, 1, 1, 1, 1, 0, nil, nil, 1, 1, 0, 0, 0,
                                       Int64(c.outputs) + 1, nil) == 0)
    }
}
