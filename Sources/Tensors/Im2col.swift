// im2col / col2im: the unfolding that turns a convolution into one sgemm per (sample, group).
import CKernels

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
/// The loops live in CKernels (`ck_im2col`), compiled for AVX-512 where the CPU has it. Square kernels only.
public func im2col(_ input: UnsafePointer<Float>, _ g: ConvolutionGeometry, _ columns: UnsafeMutablePointer<Float>) {
    precondition(g.kernelHeight == g.kernelWidth, "im2col takes square kernels")
    ck_im2col(input, Int64(g.channels), Int64(g.height), Int64(g.width), Int64(g.kernelHeight), Int64(g.stride),
              Int64(g.padding), columns)
}

/// Folds `columns` (C·kh·kw, Ho·Wo) back into `input` (C, H, W) by *adding* each entry to the cell it came from:
/// the adjoint of `im2col`, used for the input gradient of a convolution. Padded cells are dropped.
public func col2im(_ columns: UnsafePointer<Float>, _ g: ConvolutionGeometry, _ input: UnsafeMutablePointer<Float>) {
    precondition(g.kernelHeight == g.kernelWidth, "col2im takes square kernels")
    ck_col2im(columns, Int64(g.channels), Int64(g.height), Int64(g.width), Int64(g.kernelHeight), Int64(g.stride),
              Int64(g.padding), input)
}
