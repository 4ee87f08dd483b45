// DataSource+Images: image folders (`root/train/<class>/…`, `root/test|val/<class>/…`, the layout torchvision's
// ImageFolder reads) and image lists (`train.csv`/`test.csv` or `.json` of path and label) as splits of image files,
// each file's header read once when the data is loaded, and decoded a batch at a time afterwards.
import Foundation
import Tensors

extension DataSource {
    /// An image folder's split directories: `train`, and `test` or else `val` for the held-out split.
    public static let imageFolderSplits = (train: "train", test: ["test", "val"])

    /// A split from an image folder: class directories sorted by name give the classes 0, 1, …; every JPEG or PNG
    /// under a class directory (at any depth, in sorted path order) is a sample of it. The held-out split's classes
    /// must be among the training ones.
    ///
    /// - Throws: `ShrinkError` naming the directory or file: no test/val directory, no classes, a class with no
    ///   images, a test class the training split lacks, an image that cannot be read (unless `skip_corrupt`).
    static func loadImageFolder(_ root: String, spec: DataSpec) throws -> DataSplit {
        let trainDirectory = root + "/" + imageFolderSplits.train
        guard let testName = imageFolderSplits.test.first(where: { fileKind(root + "/" + $0) == .directory }) else {
            throw ShrinkError(.io, "\(root) has train/ but no test/ or val/ directory; an image folder holds "
                + "train/<class>/*.jpg|png and test/<class>/… (or val/)")
        }
        let testDirectory = root + "/" + testName
        let classes = try subdirectories(trainDirectory)
        guard !classes.isEmpty else {
            throw ShrinkError(.format, "\(trainDirectory) holds no class directories; expected train/<class>/*.jpg|png")
        }
        func files(_ directory: String, classIndex: (String) throws -> Int32) throws -> [(String, Int32)] {
            var result: [(String, Int32)] = []
            for name in try subdirectories(directory) {
                let label = try classIndex(name)
                let images = try imageFiles(under: directory + "/" + name)
                guard !images.isEmpty || directory != trainDirectory else {
                    throw ShrinkError(.format, "\(directory)/\(name) holds no .jpg, .jpeg or .png files")
                }
                result += images.map { ($0, label) }
            }
            return result
        }
        func classIndex(_ directory: String) -> (String) throws -> Int32 {
            { name in
                guard let index = classes.firstIndex(of: name) else {
                    throw ShrinkError(.format, "\(directory)/\(name) is not a class of \(trainDirectory) (its classes: "
                        + "\(classes.joined(separator: ", ")))")
                }
                return Int32(index)
            }
        }
        let train = try files(trainDirectory, classIndex: classIndex(trainDirectory))
        let test = try files(testDirectory, classIndex: classIndex(testDirectory))
        let name = root.split(separator: "/").last.map(String.init) ?? root
        return try imageSplit(train: train, test: test, classNames: classes, spec: spec, name: name, source: root)
    }

    /// The train and test list files of `directory`, when it has them: `train.csv` or `train.json`, and `test.*` or
    /// else `val.*`.
    static func imageLists(_ directory: String) -> (train: String, test: String?)? {
        for ext in ["csv", "json"] {
            let train = "\(directory)/train.\(ext)"
            guard fileKind(train) == .file else { continue }
            let test = imageFolderSplits.test.map { "\(directory)/\($0).\(ext)" }.first { fileKind($0) == .file }
            return (train, test)
        }
        return nil
    }

    /// A split from lists of images: CSV with a header naming `path` and `label` columns, or JSON, an array of
    /// `{"path": …, "label": …}`. Paths are relative to the list's directory; labels are class names (classes sorted
    /// by name) or, when every label is a whole number, class indices.
    static func loadImageList(train: String, test: String?, spec: DataSpec) throws -> DataSplit {
        guard let test else {
            let directory = splitPath(train).directory
            throw ShrinkError(.io, "\(directory) has \(splitPath(train).name) but no test or val list beside it")
        }
        let trainRows = try readImageList(train), testRows = try readImageList(test)
        let numeric = (trainRows + testRows).allSatisfy { Int32($0.label).map { $0 >= 0 } ?? false }
        let classNames: [String]? = numeric ? nil : Array(Set(trainRows.map(\.label))).sorted()
        func labelled(_ rows: [(path: String, label: String)], list: String) throws -> [(String, Int32)] {
            try rows.enumerated().map { line, row in
                if numeric, let index = Int32(row.label) {
                    guard index < DataSource.maximumClasses else {
                        throw ShrinkError(.value, "\(list): entry \(line + 1) has label \(index); expected a class index "
                            + "from 0 to \(DataSource.maximumClasses - 1)")
                    }
                    return (row.path, index)
                }
                guard let index = classNames?.firstIndex(of: row.label) else {
                    throw ShrinkError(.format, "\(list): entry \(line + 1) has label '\(row.label)', which no training "
                        + "entry has")
                }
                return (row.path, Int32(index))
            }
        }
        let name = splitPath(splitPath(train).directory).name
        return try imageSplit(train: try labelled(trainRows, list: train), test: try labelled(testRows, list: test),
                              classNames: classNames, spec: spec, name: name, source: splitPath(train).directory)
    }

    /// The rows of one list file, with paths made absolute against its directory.
    static func readImageList(_ path: String) throws -> [(path: String, label: String)] {
        let text = String(decoding: try readFile(path), as: UTF8.self)
        let base = splitPath(path).directory
        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : base + "/" + file }
        var rows: [(path: String, label: String)] = []
        if path.hasSuffix(".json") {
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
                throw ShrinkError(.format, "\(path): not valid JSON (\(error.localizedDescription))")
            }
            guard let entries = object as? [Any] else {
                throw ShrinkError(.format, "\(path): expected a JSON array of {\"path\": …, \"label\": …}")
            }
            for (index, entry) in entries.enumerated() {
                guard let entry = entry as? [String: Any], let file = entry["path"] as? String,
                      let label = entry["label"] else {
                    throw ShrinkError(.format, "\(path): entry \(index + 1) is not an object with a string 'path' and a "
                        + "'label'")
                }
                let labelText: String
                if let name = label as? String { labelText = name }
                else if let number = label as? NSNumber, number.doubleValue == number.doubleValue.rounded() {
                    labelText = String(number.intValue)
                } else {
                    throw ShrinkError(.format, "\(path): entry \(index + 1) has label \(label); expected a class name "
                        + "or a whole number")
                }
                rows.append((resolve(file), labelText))
            }
        } else {
            let lines = try CSV.rows(text, name: path)
            guard let header = lines.first else { throw ShrinkError(.format, "\(path) is empty; expected a header path,label") }
            let columns = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let pathColumn = columns.firstIndex(of: "path"), let labelColumn = columns.firstIndex(of: "label") else {
                throw ShrinkError(.format, "\(path): the header \(header) has no 'path' and 'label' columns")
            }
            for (line, fields) in lines.dropFirst().enumerated() where !(fields.count == 1 && fields[0].isEmpty) {
                guard fields.count > max(pathColumn, labelColumn) else {
                    throw ShrinkError(.format, "\(path): line \(line + 2) has \(fields.count) fields; expected "
                        + "\(columns.count)")
                }
                rows.append((resolve(fields[pathColumn]), fields[labelColumn].trimmingCharacters(in: .whitespaces)))
            }
        }
        guard !rows.isEmpty else { throw ShrinkError(.format, "\(path) lists no images") }
        return rows
    }

    /// Image-file datasets for both splits: every header read (in parallel), corrupt files an error or — with
    /// `skip_corrupt`, after decoding each — left out and counted; the size and channels taken from the spec or the
    /// training images.
    static func imageSplit(train: [(String, Int32)], test: [(String, Int32)], classNames: [String]?, spec: DataSpec,
                           name: String, source: String) throws -> DataSplit {
        var notes: [String] = []
        func scan(_ files: [(String, Int32)]) throws -> [(path: String, label: Int32, info: ImageDecoder.Info)] {
            var results = [Result<ImageDecoder.Info, Error>?](repeating: nil, count: files.count)
            results.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let slots = slots
                Parallel.forEachChunk(count: files.count) { _, range in
                    for index in range {
                        slots[index] = Result(catching: {
                            let info = try ImageDecoder.info(files[index].0)
                            if spec.skipCorrupt { _ = try ImageDecoder.decode(files[index].0, channels: info.channels) }
                            return info
                        })
                    }
                }
            }
            var kept: [(path: String, label: Int32, info: ImageDecoder.Info)] = []
            var skipped: [String] = []
            for (index, result) in results.enumerated() {
                switch result ?? .failure(ShrinkError(.io, "\(files[index].0) was not read")) {
                case .success(let info): kept.append((files[index].0, files[index].1, info))
                case .failure(let error):
                    guard spec.skipCorrupt else { throw error }
                    skipped.append(files[index].0)
                }
            }
            if !skipped.isEmpty {
                notes.append("skipped \(skipped.count) image\(skipped.count == 1 ? "" : "s") that did not decode "
                    + "(first: \(skipped[0]))")
            }
            return kept
        }
        // Listed class by class, the samples are put in one fixed shuffled order, so the held-out slices passes take
        // from the training split (validation, calibration) and `--limit`s mix the classes.
        func shuffled<T>(_ items: [T], _ stream: String) -> [T] {
            var generator = SeededGenerator(seed: 0, stream: stream)
            return generator.permutation(items.count).map { items[$0] }
        }
        let trainFiles = shuffled(try scan(train), "image-order-train")
        let testFiles = shuffled(try scan(test), "image-order-test")
        guard !trainFiles.isEmpty else { throw ShrinkError(.format, "\(source): no training image could be read") }
        let channels = spec.channels ?? (trainFiles.contains { $0.info.channels == 3 } ? 3 : 1)
        let size: [Int]
        if let given = spec.imageSize {
            size = given
        } else {
            var counts: [[Int]: Int] = [:]
            for file in trainFiles { counts[[file.info.height, file.info.width], default: 0] += 1 }
            // The most common size; among equally common ones the largest.
            size = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key.lexicographicallyPrecedes($1.key)) }?
                .key ?? [trainFiles[0].info.height, trainFiles[0].info.width]
            if counts.count > 1 {
                notes.append("the training images have \(counts.count) sizes; read at \(size[0])×\(size[1]) (the most "
                    + "common) unless a model or size= sets another")
            }
        }
        func samples(_ files: [(path: String, label: Int32, info: ImageDecoder.Info)]) -> (any SampleSource, [Int32]) {
            (ImageFileSamples(paths: files.map(\.path), sampleShape: [channels] + size, sizeGiven: spec.imageSize != nil,
                              channelsGiven: spec.channels != nil), files.map(\.label))
        }
        var split = try makeSplit(train: samples(trainFiles), test: samples(testFiles), name: name, source: source,
                                  classNames: classNames)
        split.notes = notes
        return split
    }

    /// The subdirectories of `directory`, sorted by name, hidden ones left out.
    static func subdirectories(_ directory: String) throws -> [String] {
        try listing(directory).filter { fileKind(directory + "/" + $0) == .directory }
    }

    /// The JPEG and PNG files under `directory` at any depth, sorted by path.
    static func imageFiles(under directory: String) throws -> [String] {
        var files: [String] = []
        for name in try listing(directory) {
            let path = directory + "/" + name
            switch fileKind(path) {
            case .directory: files += try imageFiles(under: path)
            case .file:
                if let dot = name.lastIndex(of: "."),
                   ImageDecoder.extensions.contains(name[name.index(after: dot)...].lowercased()) {
                    files.append(path)
                }
            case .missing: break
            }
        }
        return files
    }

    /// The entries of `directory` that do not start with '.', sorted by their bytes (as Python's `sorted`).
    static func listing(_ directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        } catch {
            throw ShrinkError(.io, "cannot list \(directory): \(error.localizedDescription)")
        }
    }
}

/// A small CSV reader (RFC 4180: fields separated by commas, double quotes around fields that hold commas, quotes
/// or line breaks, a quote inside written twice).
enum CSV {
    static func rows(_ text: String, name: String) throws -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, index = text.startIndex, line = 1
        while index < text.endIndex {
            let character = text[index]
            if quoted {
                if character == "\"" {
                    let next = text.index(after: index)
                    if next < text.endIndex && text[next] == "\"" { field.append("\""); index = next }
                    else { quoted = false }
                } else {
                    if character == "\n" { line += 1 }
                    field.append(character)
                }
            } else {
                switch character {
                case "\"" where field.isEmpty: quoted = true
                case ",": row.append(field); field = ""
                case "\n", "\r\n":
                    row.append(field); rows.append(row); row = []; field = ""; line += 1
                case "\r": break
                default: field.append(character)
                }
            }
            index = text.index(after: index)
        }
        if quoted { throw ShrinkError(.format, "\(name): a quoted field opened before line \(line) is never closed") }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
