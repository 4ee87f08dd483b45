// DataSpec: a data spec as written on the command line or in a recipe — a path (or "fashion-mnist") and, after a
// '?', options joined by '&': the image size and colour of image data, what to do with corrupt images, and the
// training augmentation. One string, so every command and recipe that takes data takes every option.
import Foundation
import Tensors

/// Where data is and how to read it: `PATH[?key=value&key…]`.
///
/// Options:
/// - `size=S` or `size=HxW`: image folders and lists are resized to S×S (or H×W); default the input size of the model
///   the data meets, else the most common size of the training images.
/// - `channels=1|3`: grey or RGB; default the model's, else 3 when any training image is in colour.
/// - `skip_corrupt`: leave out images that do not decode (each checked when the data is loaded) and count them,
///   instead of stopping at the first with an error naming it.
/// - `flip`, `pad_crop[=P]` (default 4), `resized_crop[=S]` (least area share, default 0.08): training augmentation
///   (`Augmentation`), applied to training batches only.
/// - `classes=N`: the number of classes of array data (IDX, NPY, NPZ); every label must be below it. Without it the
///   classes are 0 to the largest label, and labels that leave a class of that range without a sample are refused
///   as a likely corruption (one label of 200 among 0…9) — `classes=N` says the gaps are real.
///
/// Keys may be written with '-' or '_'; a flag may be given `=true`/`=false`.
public struct DataSpec: Sendable, Equatable, CustomStringConvertible {
    /// The data's path, or `fashion-mnist`.
    public var path: String
    /// (height, width) to resize images to, when given.
    public var imageSize: [Int]?
    /// 1 or 3, when given.
    public var channels: Int?
    /// Whether images that do not decode are skipped (and counted) rather than an error.
    public var skipCorrupt = false
    /// The transforms of training batches.
    public var augmentation = Augmentation()
    /// The number of classes, when given.
    public var classes: Int?

    /// The option keys, in the order `description` writes them.
    public static let keys = ["size", "channels", "skip_corrupt", "resized_crop", "flip", "pad_crop", "classes"]

    /// A spec of `path` with no options.
    public init(path: String) { self.path = path }

    /// Parses `PATH[?options]`.
    ///
    /// - Throws: `ShrinkError(.value)` naming the spec and the option for an unknown key or a bad value.
    public init(parsing text: String) throws {
        guard let mark = text.firstIndex(of: "?") else {
            self.init(path: text)
            return
        }
        self.init(path: String(text[..<mark]))
        guard !path.isEmpty else { throw ShrinkError(.value, "data spec '\(text)' has options but no path before '?'") }
        for item in text[text.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0].replacingOccurrences(of: "-", with: "_").lowercased()
            let value = parts.count > 1 ? parts[1] : nil
            func fail(_ expected: String) -> ShrinkError {
                ShrinkError(.value, "data spec '\(text)': \(key)=\(value ?? "") is not valid; expected \(expected)")
            }
            func flag() throws -> Bool {
                switch value?.lowercased() {
                case nil, "true", "1", "yes": return true
                case "false", "0", "no": return false
                default: throw fail("no value, true or false")
                }
            }
            switch key {
            case "size":
                let sides = (value ?? "").lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
                guard (1...2).contains(sides.count), sides.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 16384 }) else {
                    throw fail("S or HxW with sides from 1 to 16384, such as size=96 or size=120x160")
                }
                let values = sides.compactMap { $0 }
                imageSize = values.count == 1 ? [values[0], values[0]] : values
            case "channels":
                guard let value, let count = Int(value), count == 1 || count == 3 else { throw fail("1 (grey) or 3 (RGB)") }
                channels = count
            case "skip_corrupt": skipCorrupt = try flag()
            case "flip": augmentation.flip = try flag()
            case "pad_crop":
                guard let pad = value.map({ Int($0) }) ?? 4, (0...4096).contains(pad) else {
                    throw fail("a padding in pixels from 0 to 4096 (default 4)")
                }
                augmentation.padCrop = pad
            case "resized_crop":
                guard let scale = value.map({ Float($0) }) ?? 0.08, scale > 0, scale <= 1 else {
                    throw fail("the least share of the area to keep, in (0, 1] (default 0.08)")
                }
                augmentation.resizedCropScale = scale
            case "classes":
                guard let value, let count = Int(value), count >= 2, count <= DataSource.maximumClasses else {
                    throw fail("a class count from 2 to \(DataSource.maximumClasses)")
                }
                classes = count
            default:
                throw ShrinkError(.value, "data spec '\(text)': unknown option '\(parts[0])'; expected one of "
                    + DataSpec.keys.joined(separator: ", "))
            }
        }
    }

    /// Whether an option for image files is set (size, channels or skip_corrupt).
    public var hasImageOptions: Bool { imageSize != nil || channels != nil || skipCorrupt }

    /// The spec in its canonical form: the path, then the options set, in `keys` order.
    public var description: String {
        var options: [String] = []
        if let imageSize { options.append("size=\(imageSize[0] == imageSize[1] ? "\(imageSize[0])" : "\(imageSize[0])x\(imageSize[1])")") }
        if let channels { options.append("channels=\(channels)") }
        if skipCorrupt { options.append("skip_corrupt") }
        if let scale = augmentation.resizedCropScale { options.append("resized_crop=\(scale)") }
        if augmentation.flip { options.append("flip") }
        if let pad = augmentation.padCrop { options.append("pad_crop=\(pad)") }
        if let classes { options.append("classes=\(classes)") }
        return options.isEmpty ? path : path + "?" + options.joined(separator: "&")
    }
}
