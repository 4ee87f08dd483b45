// ImageFiles: JPEG and PNG files decoded on demand with the system libjpeg-turbo and libpng (through CImageCodecs),
// resized to the input size — the samples of an image folder or an image list. Nothing decoded is kept: memory holds
// one batch, whatever the number of files.
import CImageCodecs
import Foundation
import Tensors

/// Reading one image file.
public enum ImageDecoder {
    /// The size and colour of an image, read from its header.
    public struct Info: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// 1 for grey, 3 for colour.
        public var channels: Int

        public init(width: Int, height: Int, channels: Int) {
            self.width = width
            self.height = height
            self.channels = channels
        }
    }

    /// The file extensions taken for images (compared case-insensitively).
    public static let extensions = ["jpg", "jpeg", "png"]

    /// The size and colour of the JPEG or PNG at `path`, from its header.
    ///
    /// - Throws: `ShrinkError(.io)` when it cannot be read; `.format` when it is not a JPEG or PNG or its header is
    ///   corrupt; `.unsupported` for a colour space Shrink does not decode; `.value` for an image over the size limits.
    public static func info(_ path: String) throws -> Info { try info(of: try readFile(path), path: path) }

    /// The size and colour of the JPEG or PNG held in `bytes` (read from `path`, which errors name).
    private static func info(of bytes: [UInt8], path: String) throws -> Info {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        try call(path) { message, size in
            bytes.withUnsafeBufferPointer { ci_image_info($0.baseAddress, $0.count, &width, &height, &channels, message, size) }
        }
        return Info(width: Int(width), height: Int(height), channels: Int(channels))
    }

    /// The image at `path` as `channels` (1 or 3) planes of floats in [0, 1]. With `atLeast` (height, width), a JPEG
    /// is decoded at the smallest of libjpeg's 1/2, 1/4, 1/8 scales that keeps it at least that large.
    ///
    /// - Throws: as `info`, and `.format` naming the file when its data is corrupt or cut short.
    public static func decode(_ path: String, channels: Int, atLeast: (height: Int, width: Int)? = nil) throws
        -> SamplePlanes {
        let bytes = try readFile(path)
        var reduce: Int32 = 1
        if let atLeast, bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8 {
            let native = try info(of: bytes, path: path)
            for candidate in [8, 4, 2] {
                // libjpeg rounds a scaled side up.
                if (native.width + candidate - 1) / candidate >= atLeast.width,
                   (native.height + candidate - 1) / candidate >= atLeast.height {
                    reduce = Int32(candidate)
                    break
                }
            }
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        try call(path) { message, size in
            bytes.withUnsafeBufferPointer {
                ci_image_decode($0.baseAddress, $0.count, Int32(channels), reduce, &pixels, &width, &height, message, size)
            }
        }
        guard let pixels else { throw ShrinkError(.io, "\(path): the decoder returned no pixels") }
        defer { free(pixels) }
        let (h, w) = (Int(height), Int(width))
        var values = [Float](repeating: 0, count: channels * h * w)
        values.withUnsafeMutableBufferPointer { ci_planes_from_pixels(pixels, height, width, Int32(channels), $0.baseAddress) }
        return SamplePlanes(shape: [channels, h, w], values: values)
    }

    /// Runs a codec call with a message buffer and turns its status into an error naming `path`.
    private static func call(_ path: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> ci_status) throws {
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard status != CI_OK else { return }
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch status {
        case CI_UNKNOWN_FORMAT: throw ShrinkError(.format, "\(path): \(text)")
        case CI_UNSUPPORTED: throw ShrinkError(.unsupported, "\(path): \(text)")
        case CI_TOO_LARGE: throw ShrinkError(.value, "\(path): \(text)")
        case CI_NO_MEMORY: throw ShrinkError(.io, "\(path): \(text)")
        default: throw ShrinkError(.format, "\(path): corrupt image: \(text)")
        }
    }
}

/// Samples that are image files, decoded and resized to `sampleShape` (C, H, W) each time they are read.
public struct ImageFileSamples: SampleSource {
    /// The image files, one a sample.
    public let paths: [String]
    /// (C, H, W): C 1 (grey) or 3 (RGB).
    public let sampleShape: [Int]
    /// Whether the size was given (an explicit size is kept when the data meets a model of another size).
    public let sizeGiven: Bool
    /// Whether the channel count was given.
    public let channelsGiven: Bool

    public init(paths: [String], sampleShape: [Int], sizeGiven: Bool, channelsGiven: Bool) {
        self.paths = paths
        self.sampleShape = sampleShape
        self.sizeGiven = sizeGiven
        self.channelsGiven = channelsGiven
    }

    public var count: Int { paths.count }
    public var residentBytes: Int { paths.reduce(0) { $0 + $1.utf8.count } }
    public var readsAreExpensive: Bool { true }

    public func read(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let (height, width) = (sampleShape[1], sampleShape[2])
        let planes = try ImageDecoder.decode(paths[index], channels: sampleShape[0], atLeast: (height, width))
        let (sourceHeight, sourceWidth) = (planes.shape[1], planes.shape[2])
        if (sourceHeight, sourceWidth) == (height, width) {
            planes.values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
            return
        }
        let status = planes.values.withUnsafeBufferPointer {
            ci_resample_planes($0.baseAddress, Int32(sampleShape[0]), Int32(sourceHeight), Int32(sourceWidth), 0, 0,
                               Float(sourceWidth), Float(sourceHeight), destination, Int32(height), Int32(width))
        }
        guard status == 0 else { throw ShrinkError(.io, "\(paths[index]): out of memory resizing the image") }
    }

    public func planes(_ index: Int) throws -> SamplePlanes {
        try ImageDecoder.decode(paths[index], channels: sampleShape[0])
    }

    public func conformed(to shape: [Int]) -> (any SampleSource)? {
        guard shape.count == 3, [1, 3].contains(shape[0]), shape[1] > 0, shape[2] > 0,
              !sizeGiven || shape.dropFirst() == sampleShape.dropFirst(),
              !channelsGiven || shape[0] == sampleShape[0] else { return nil }
        return ImageFileSamples(paths: paths, sampleShape: shape, sizeGiven: sizeGiven, channelsGiven: channelsGiven)
    }
}
