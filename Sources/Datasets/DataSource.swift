// DataSource: turns a data spec from the command line or a recipe — "fashion-mnist", a directory of IDX files, or an
// .npz archive — into a train/test DataSplit, with errors that say where the data was looked for and what was expected.
// Deliberately left out: downloading; data comes from the Debian package dataset-fashion-mnist or from the user.
import Foundation
import Tensors

/// Where training and test data come from.
public enum DataSource {
    /// The most classes a data set may have (labels 0…65535); a larger label is taken for corrupt data rather than
    /// a reason to build a gigantic output layer.
    public static let maximumClasses = 1 << 16

    /// The spec that names Fashion-MNIST.
    public static let fashionMNIST = "fashion-mnist"
    /// Where the Debian package `dataset-fashion-mnist` installs the IDX files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// The environment variable naming a directory of IDX files to use instead of `fashionMNISTDirectory`.
    public static let dataDirectoryVariable = "SHRINK_DATA_DIR"

    /// The base names of the four IDX files of an MNIST-style directory; each may also end in `.gz`.
    public static let idxFileNames = (
        trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte",
        testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte")

    /// Resolves a data spec (`PATH[?options]`, see `DataSpec`) to a train/test split.
    ///
    /// - `"fashion-mnist"`: the IDX files in `$SHRINK_DATA_DIR` (or its `fashion-mnist` subdirectory) when set, else
    ///   in `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`).
    /// - an image folder: a directory with `train/<class>/…` and `test/<class>/…` (or `val/`) of JPEG and PNG files
    ///   (`loadImageFolder`), or with `train.csv` and `test.csv` (or `.json`) lists of path and label.
    /// - a directory holding `x_train.npy`, `y_train.npy`, `x_test.npy` and `y_test.npy`: the inputs are read from
    ///   their files as needed, never loaded whole.
    /// - a directory holding `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    ///   `t10k-images-idx3-ubyte[.gz]` and `t10k-labels-idx1-ubyte[.gz]`.
    /// - a path ending in `.npz` with arrays `x_train`, `y_train`, `x_test`, `y_test`.
    ///
    /// uint8 images are kept as bytes and scaled to [0, 1] (divided by 255) as they are read; float arrays are taken
    /// as they are; labels may have any integer dtype. Images (N, H, W) become (N, 1, H, W); (N, H, W, C) with C of 1
    /// or 3 is read channels-last; (N, D) and (N, C, H, W) stay. `classCount` is the largest label over both splits
    /// plus one, or the number of classes an image folder or list names.
    /// - Throws: `ShrinkError` naming the path and what was expected.
    public static func load(
        _ spec: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DataSplit {
        try load(try DataSpec(parsing: spec), environment: environment)
    }

    /// Resolves a parsed data spec to a train/test split; see `load(_:environment:)`.
    public static func load(
        _ spec: DataSpec, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DataSplit {
        let path = spec.path
        var split: DataSplit
        var images = false
        if path.lowercased() == fashionMNIST {
            split = try loadFashionMNIST(environment: environment)
        } else if path.lowercased().hasSuffix(".npz") {
            split = try loadNPZ(path)
        } else {
            switch fileKind(path) {
            case .directory:
                let name = path.split(separator: "/").last.map(String.init) ?? path
                if fileKind(path + "/train") == .directory {
                    split = try loadImageFolder(path, spec: spec)
                    images = true
                } else if let list = imageLists(path) {
                    split = try loadImageList(train: list.train, test: list.test, spec: spec)
                    images = true
                } else if fileKind(path + "/" + npyFileNames.trainInputs) == .file {
                    split = try loadNPYDirectory(path, name: name)
                } else {
                    split = try loadIDXDirectory(path, name: name, hint: nil)
                }
            case .missing:
                throw ShrinkError(.io, "no such file or directory: \(path) (expected '\(fashionMNIST)', an image folder, "
                    + "a directory of NPY or IDX files, or a path ending in .npz)")
            case .file:
                throw ShrinkError(.unsupported, "\(path): unknown data format; expected '\(fashionMNIST)', an image folder "
                    + "(train/<class>/*.jpg|png and test/ or val/), a directory holding x_train.npy and the other NPY "
                    + "files or \(idxFileNames.trainImages)[.gz] and the other IDX files, or a path ending in .npz")
            }
        }
        try checkClasses(&split, spec: spec)
        if spec.hasImageOptions && !images {
            throw ShrinkError(.value, "data spec '\(spec)': size, channels and skip_corrupt apply to image folders and "
                + "image lists; \(path) holds arrays of a fixed shape")
        }
        if !spec.augmentation.isEmpty {
            try spec.augmentation.check()
            guard split.train.sampleShape.count == 3 else {
                throw ShrinkError(.value, "data spec '\(spec)': augmentation needs images (C, H, W); the samples of \(path) "
                    + "have shape \(split.train.sampleShape)")
            }
            split.train.augmentation = spec.augmentation
        }
        return split
    }

    /// Applies `classes=N` (every label below N) or, without it, refuses labels that leave classes of 0…max without
    /// a sample — the sign of a corrupt label (Fashion-MNIST with one label of 200 would be a 201-class problem).
    /// Errors name the data, the split and the sample.
    static func checkClasses(_ split: inout DataSplit, spec: DataSpec) throws {
        let splits = [("train", split.train), ("test", split.test)]
        if let names = split.train.classNames {
            if let classes = spec.classes, classes != names.count {
                throw ShrinkError(.value, "data spec '\(spec)': classes=\(classes), but \(spec.path) names \(names.count) "
                    + "classes (\(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", …" : ""))")
            }
            return
        }
        if let classes = spec.classes {
            for (name, data) in splits {
                if let index = data.labels.firstIndex(where: { Int($0) >= classes }) {
                    throw ShrinkError(.value, "\(spec.path) (\(name) split): sample \(index) has label \(data.labels[index]); "
                        + "classes=\(classes) allows labels 0 to \(classes - 1)")
                }
            }
            split.train.classCount = classes
            split.test.classCount = classes
            return
        }
        var seen = [Bool](repeating: false, count: split.train.classCount)
        for (_, data) in splits { for label in data.labels { seen[Int(label)] = true } }
        let missing = seen.indices.filter { !seen[$0] }
        guard !missing.isEmpty else { return }
        let largest = split.train.classCount - 1
        let (where_, index) = splits.lazy.compactMap { name, data in
            data.labels.firstIndex(of: Int32(largest)).map { (name, $0) } }.first ?? ("train", 0)
        let shown = missing.prefix(8).map(String.init).joined(separator: ", ") + (missing.count > 8 ? ", …" : "")
        throw ShrinkError(.value, "\(spec.path): the labels take \(seen.count - missing.count) distinct values spread over "
            + "0…\(largest) (no sample has \(missing.count == 1 ? "label" : "labels") \(shown)); the largest, \(largest), is "
            + "the label of sample \(index) of the \(where_) split. A corrupt label file? If the classes without samples "
            + "are real, give the class count: '\(spec.path)?classes=N'")
    }

    /// Fashion-MNIST from `$SHRINK_DATA_DIR` or the Debian package's directory.
    private static func loadFashionMNIST(environment: [String: String]) throws -> DataSplit {
        let install = "install the Debian package dataset-fashion-mnist or set \(dataDirectoryVariable) to a "
            + "directory holding the Fashion-MNIST IDX files"
        guard let custom = environment[dataDirectoryVariable], !custom.isEmpty else {
            guard fileKind(fashionMNISTDirectory) == .directory else {
                throw ShrinkError(.io, "Fashion-MNIST not found: \(fashionMNISTDirectory) does not exist; \(install)")
            }
            return try loadIDXDirectory(fashionMNISTDirectory, name: fashionMNIST, hint: install)
        }
        guard fileKind(custom) == .directory else {
            throw ShrinkError(.io, "\(dataDirectoryVariable)=\(custom) is not a directory; expected a directory "
                + "holding the Fashion-MNIST IDX files")
        }
        let nested = custom + "/" + fashionMNIST
        let directory = findIDX(custom, idxFileNames.trainImages) == nil && fileKind(nested) == .directory ? nested : custom
        return try loadIDXDirectory(directory, name: fashionMNIST,
                                    hint: "\(dataDirectoryVariable)=\(custom) should hold the Fashion-MNIST IDX files")
    }

    /// The four IDX files of `directory` as a split; `hint` is added to the error for a missing file.
    static func loadIDXDirectory(_ directory: String, name: String, hint: String?) throws -> DataSplit {
        func read(_ base: String) throws -> (path: String, dimensions: [Int], bytes: [UInt8]) {
            guard let path = findIDX(directory, base) else {
                throw ShrinkError(.io, "\(directory) holds no \(base) or \(base).gz"
                    + (hint.map { "; \($0)" } ?? " (expected an MNIST-style directory of IDX files)"))
            }
            let (dimensions, bytes) = try IDX.read(contentsOf: path)
            return (path, dimensions, bytes)
        }
        func split(images imageBase: String, labels labelBase: String) throws -> (any SampleSource, [Int32]) {
            let images = try read(imageBase)
            let labels = try read(labelBase)
            let layout = try ArrayLayout.of(shape: images.dimensions, dtype: "|u1", name: images.path)
            let inputs = try ArraySamples(bytes: images.bytes, count: images.dimensions[0], layout: layout)
            guard labels.dimensions.count == 1 else {
                throw ShrinkError(.shape, "\(labels.path): labels have dimensions \(labels.dimensions); expected one")
            }
            guard labels.dimensions[0] == inputs.count else {
                throw ShrinkError(.shape, "\(labels.path) holds \(labels.dimensions[0]) labels but \(images.path) holds "
                    + "\(inputs.count) images")
            }
            return (inputs, labels.bytes.map { Int32($0) })
        }
        let train = try split(images: idxFileNames.trainImages, labels: idxFileNames.trainLabels)
        let test = try split(images: idxFileNames.testImages, labels: idxFileNames.testLabels)
        return try makeSplit(train: train, test: test, name: name, source: directory)
    }

    /// The path of `base` or `base.gz` in `directory` (plain first), or nil when neither is a file.
    static func findIDX(_ directory: String, _ base: String) -> String? {
        [base, base + ".gz"].map { directory + "/" + $0 }.first { fileKind($0) == .file }
    }

    /// What a path names.
    enum FileKind { case file, directory, missing }

    /// What `path` names, following symbolic links.
    static func fileKind(_ path: String) -> FileKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        return isDirectory.boolValue ? .directory : .file
    }
}
