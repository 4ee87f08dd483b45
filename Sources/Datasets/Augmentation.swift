// Augmentation: the random transforms training recipes for image classifiers use — random resized crop, horizontal
// flip, padding + random crop — applied to one sample at its stored size, with every random choice drawn from a
// generator the caller seeds per epoch and sample, so a seed fixes every training batch.
import CImageCodecs
import Foundation
import Tensors

/// Training-time transforms of an image sample, applied in torchvision's order: random resized crop (or a plain resize
/// to the output size), then horizontal flip, then zero padding and a random crop back to the output size. Samples are
/// read unnormalised and normalised afterwards, so padding is black.
public struct Augmentation: Sendable, Equatable, Codable {
    /// Random resized crop: a box of a random share of the area (uniform in `[resizedCropScale, 1]`) and a random
    /// aspect ratio (log-uniform in [3/4, 4/3]), resized to the output size; nil for none. torchvision's default
    /// share is 0.08.
    public var resizedCropScale: Float?
    /// Mirror left-right with probability ½.
    public var flip = false
    /// Pad every side with this many zero pixels, then crop the output size at a random offset (the CIFAR recipe:
    /// 4); nil for none.
    public var padCrop: Int?

    enum CodingKeys: String, CodingKey { case resizedCropScale = "resized_crop", flip, padCrop = "pad_crop" }

    public init(resizedCropScale: Float? = nil, flip: Bool = false, padCrop: Int? = nil) {
        self.resizedCropScale = resizedCropScale
        self.flip = flip
        self.padCrop = padCrop
    }

    /// Whether it changes anything.
    public var isEmpty: Bool { resizedCropScale == nil && !flip && padCrop == nil }

    /// Throws unless the settings are in range: a crop share in (0, 1], a padding from 0 to 4096.
    public func check() throws {
        if let scale = resizedCropScale, !(scale > 0 && scale <= 1) {
            throw ShrinkError(.value, "resized_crop must be a share of the area in (0, 1], got \(scale)")
        }
        if let padCrop, !(0...4096).contains(padCrop) {
            throw ShrinkError(.value, "pad_crop must be from 0 to 4096 pixels, got \(padCrop)")
        }
    }

    /// Writes `planes` augmented to `shape` (C, H, W) at `destination`.
    ///
    /// - Throws: `ShrinkError(.shape)` for a sample that is not an image or whose channels are not `shape[0]`.
    public func apply(to planes: SamplePlanes, shape: [Int], generator: inout SeededGenerator,
                      into destination: UnsafeMutablePointer<Float>) throws {
        guard planes.shape.count == 3, shape.count == 3, planes.shape[0] == shape[0] else {
            throw ShrinkError(.shape, "augmentation needs (C, H, W) images; got a sample of shape \(planes.shape) "
                + "for an input of shape \(shape)")
        }
        let (channels, height, width) = (planes.shape[0], planes.shape[1], planes.shape[2])
        let (outHeight, outWidth) = (shape[1], shape[2])
        var box = (x: Float(0), y: Float(0), width: Float(width), height: Float(height))
        if let scale = resizedCropScale { box = cropBox(height: height, width: width, scale: scale, &generator) }
        var resized = [Float](repeating: 0, count: channels * outHeight * outWidth)
        if box.x == 0 && box.y == 0 && box.width == Float(width) && box.height == Float(height)
            && height == outHeight && width == outWidth {
            resized = planes.values
        } else {
            let status = planes.values.withUnsafeBufferPointer { source in
                resized.withUnsafeMutableBufferPointer { target in
                    ci_resample_planes(source.baseAddress, Int32(channels), Int32(height), Int32(width), box.x, box.y,
                                       box.x + box.width, box.y + box.height, target.baseAddress, Int32(outHeight),
                                       Int32(outWidth))
                }
            }
            guard status == 0 else { throw ShrinkError(.io, "out of memory resizing a \(width)×\(height) image") }
        }
        let mirrored = flip && generator.nextUniform() < 0.5
        var offset = (y: 0, x: 0)
        if let pad = padCrop, pad > 0 {
            offset = (generator.nextInt(below: 2 * pad + 1) - pad, generator.nextInt(below: 2 * pad + 1) - pad)
        }
        let plane = outHeight * outWidth
        resized.withUnsafeBufferPointer { source in
            for c in 0..<channels {
                for y in 0..<outHeight {
                    let sy = y + offset.y
                    let row = destination + c * plane + y * outWidth
                    guard sy >= 0 && sy < outHeight else {
                        row.update(repeating: 0, count: outWidth)
                        continue
                    }
                    let sourceRow = source.baseAddress! + c * plane + sy * outWidth
                    for x in 0..<outWidth {
                        let sx = (mirrored ? outWidth - 1 - x : x) + offset.x
                        row[x] = sx >= 0 && sx < outWidth ? sourceRow[sx] : 0
                    }
                }
            }
        }
    }

    /// torchvision's RandomResizedCrop box: ten tries at a random area share and log-uniform aspect ratio that fits,
    /// else the whole image cropped centrally to the nearest allowed ratio.
    private func cropBox(height: Int, width: Int, scale: Float, _ generator: inout SeededGenerator)
        -> (x: Float, y: Float, width: Float, height: Float) {
        let area = Float(height * width)
        let logLow = Float(log(3.0 / 4.0)), logHigh = Float(log(4.0 / 3.0))
        for _ in 0..<10 {
            let target = area * (scale + (1 - scale) * generator.nextUniform())
            let ratio = Float(exp(Double(logLow + (logHigh - logLow) * generator.nextUniform())))
            let w = Int((target * ratio).squareRoot().rounded()), h = Int((target / ratio).squareRoot().rounded())
            if w > 0 && h > 0 && w <= width && h <= height {
                let y = generator.nextInt(below: height - h + 1), x = generator.nextInt(below: width - w + 1)
                return (Float(x), Float(y), Float(w), Float(h))
            }
        }
        let ratio = Float(width) / Float(height)
        var w = width, h = height
        if ratio < 3.0 / 4.0 { h = Int((Float(w) / (3.0 / 4.0)).rounded()) }
        else if ratio > 4.0 / 3.0 { w = Int((Float(h) * (4.0 / 3.0)).rounded()) }
        w = min(max(w, 1), width)
        h = min(max(h, 1), height)
        return (Float((width - w) / 2), Float((height - h) / 2), Float(w), Float(h))
    }
}
