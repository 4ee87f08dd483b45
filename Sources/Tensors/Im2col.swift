// im2col / col2im: the unfolding that turns a convolution into one sgemm per (sample, group).

/// The geometry of a 2-D convolution or pooling window over one sample.
public struct ConvolutionGeometry: Sendable, Equatable {
    public var channels: Int, height: Int, width: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var stride: Int, padding: Int

    public init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.stride = stride; self.padding = padding
    }

    /// `Ho = (H + 2p − kh) / s + 1`.
    public var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    /// `Wo = (W + 2p − kw) / s + 1`.
    public var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the column matrix: `C · kh · kw`.
    public var columnRows: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the column matrix: `Ho · Wo`.
    public var columnCount: Int { outputHeight * outputWidth }
}

/// Unfolds `input` (C, H, W) into `columns` (C·kh·kw, Ho·Wo); padded cells are 0.
///
/// Row `(c, ky, kx)` of the result holds `input[c, oy·s − p + ky, ox·s − p + kx]` for every output (oy, ox).
public func im2col(_ input: UnsafePointer<Float>, _ g: ConvolutionGeometry, _ columns: UnsafeMutablePointer<Float>) {
    let ho = g.outputHeight, wo = g.outputWidth
    var row = 0
    for c in 0..<g.channels {
        let plane = input + c * g.height * g.width
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let out = columns + row * ho * wo
                for oy in 0..<ho {
                    let y = oy * g.stride - g.padding + ky
                    let dst = out + oy * wo
                    if y < 0 || y >= g.height {
                        dst.update(repeating: 0, count: wo)
                        continue
                    }
                    let src = plane + y * g.width
                    if g.stride == 1 {
                        // x = ox − p + kx; valid for ox in [p − kx, W + p − kx).
                        let start = min(wo, max(0, g.padding - kx)), end = min(wo, g.width + g.padding - kx)
                        if start > 0 { dst.update(repeating: 0, count: start) }
                        if end > start { (dst + start).update(from: src + (start - g.padding + kx), count: end - start) }
                        if end < wo { (dst + max(end, 0)).update(repeating: 0, count: wo - max(end, 0)) }
                    } else {
                        for ox in 0..<wo {
                            let x = ox * g.stride - g.padding + kx
                            dst[ox] = (x >= 0 && x < g.width) ? src[x] : 0
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// Folds `columns` (C·kh·kw, Ho·Wo) back into `input` (C, H, W) by *adding* each entry to the cell it came from:
/// the adjoint of `im2col`, used for the input gradient of a convolution. Padded cells are dropped.
public func col2im(_ columns: UnsafePointer<Float>, _ g: ConvolutionGeometry, _ input: UnsafeMutablePointer<Float>) {
    let ho = g.outputHeight, wo = g.outputWidth
    var row = 0
    for c in 0..<g.channels {
        let plane = input + c * g.height * g.width
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let col = columns + row * ho * wo
                for oy in 0..<ho {
                    let y = oy * g.stride - g.padding + ky
                    if y < 0 || y >= g.height { continue }
                    let src = col + oy * wo
                    let dst = plane + y * g.width
                    if g.stride == 1 {
                        // x = ox − p + kx; valid for ox in [p − kx, W + p − kx), no check inside the loop.
                        let start = min(wo, max(0, g.padding - kx)), end = min(wo, g.width + g.padding - kx)
                        let shifted = dst + (kx - g.padding)
                        for ox in start..<max(start, end) { shifted[ox] += src[ox] }
                    } else {
                        for ox in 0..<wo {
                            let x = ox * g.stride - g.padding + kx
                            if x >= 0 && x < g.width { dst[x] += src[ox] }
                        }
                    }
                }
                row += 1
            }
        }
    }
}
