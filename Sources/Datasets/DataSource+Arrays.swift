// DataSource+Arrays: turns the arrays of a data file into checked Datasets — .npz archives, uint8 pixels scaled to
// [0, 1], image shapes given their channel axis, integer labels of any dtype, and the class count of both splits.
import Tensors

extension DataSource {
    /// The keys an .npz data file must hold.
    public static let npzKeys = (trainInputs: "x_train", trainLabels: "y_train", testInputs: "x_test", testLabels: "y_test")

    /// The file names of a directory of NPY arrays (the members of an .npz file, saved one a file).
    public static let npyFileNames = (trainInputs: "x_train.npy", trainLabels: "y_train.npy", testInputs: "x_test.npy",
                                      testLabels: "y_test.npy")

    /// A split from an .npz archive with `x_train`, `y_train`, `x_test`, `y_test`. Inputs stored uncompressed
    /// (`numpy.savez`) are read from the file as needed, like an `.npy`; compressed ones are inflated, uint8 kept as
    /// bytes.
    static func loadNPZ(_ path: String) throws -> DataSplit {
        let (file, members) = try NPZ.open(path)
        func member(_ key: String) throws -> NPZ.Member {
            guard let member = members[key] else {
                let present = members.keys.sorted().joined(separator: ", ")
                throw ShrinkError(.format, "\(path) has no array '\(key)'; expected x_train, y_train, x_test and y_test "
                    + "(found: \(present.isEmpty ? "none" : present))")
            }
            return member
        }
        func split(inputs inputKey: String, labels labelKey: String) throws -> (any SampleSource, [Int32]) {
            let name = "\(path): \(inputKey)"
            let inputs: any SampleSource
            switch try member(inputKey) {
            case .stored(let header, let dataOffset):
                let layout = try ArrayLayout.of(shape: header.shape, dtype: header.dtype, name: name)
                inputs = try FileSamples(file: file, dataOffset: dataOffset, count: header.shape[0], layout: layout)
            case .loaded(let array):
                let layout = try ArrayLayout.of(shape: array.shape, dtype: array.dtype, name: name)
                let bytes = try ArraySamples(bytes: array.data, count: array.shape[0], layout: layout)
                inputs = array.dtype == "|u1" ? bytes : try floatSamples(bytes)
            }
            let labelArray: NPYArray
            switch try member(labelKey) {
            case .stored(let header, let dataOffset):
                labelArray = try NPYArray(shape: header.shape, dtype: header.dtype,
                                          data: try file.read(header.byteCount, at: dataOffset))
            case .loaded(let array): labelArray = array
            }
            return (inputs, try labels(labelArray, source: "\(path): \(labelKey)", samples: inputs.count,
                                       inputName: inputKey))
        }
        let train = try split(inputs: npzKeys.trainInputs, labels: npzKeys.trainLabels)
        let test = try split(inputs: npzKeys.testInputs, labels: npzKeys.testLabels)
        var name = splitPath(path).name
        name.removeLast(4)
        return try makeSplit(train: train, test: test, name: name, source: path)
    }

    /// A split from a directory of `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`: the inputs are read from
    /// their files a sample at a time (`FileSamples`), the labels loaded. Float inputs are checked for NaN and
    /// infinity once, reading the file through (`makeSplit`).
    static func loadNPYDirectory(_ directory: String, name: String) throws -> DataSplit {
        func split(inputs inputName: String, labels labelName: String) throws -> (any SampleSource, [Int32]) {
            let inputPath = directory + "/" + inputName, labelPath = directory + "/" + labelName
            guard fileKind(inputPath) == .file else { throw ShrinkError(.io, "\(directory) holds no \(inputName)") }
            guard fileKind(labelPath) == .file else { throw ShrinkError(.io, "\(directory) holds no \(labelName)") }
            let header = try NPY.header(ofFile: inputPath)
            let layout = try ArrayLayout.of(shape: header.shape, dtype: header.dtype, name: inputPath)
            let inputs = try FileSamples(path: inputPath, dataOffset: header.dataOffset, count: header.shape[0],
                                         layout: layout)
            return (inputs, try labels(try NPY.read(contentsOf: labelPath), source: labelPath, samples: inputs.count,
                                       inputName: inputName))
        }
        let train = try split(inputs: npyFileNames.trainInputs, labels: npyFileNames.trainLabels)
        let test = try split(inputs: npyFileNames.testInputs, labels: npyFileNames.testLabels)
        return try makeSplit(train: train, test: test, name: name, source: directory)
    }

    /// Float samples converted once to a tensor (whose values `Dataset` checks).
    static func floatSamples(_ samples: some SampleSource) throws -> TensorSamples {
        var tensor = Tensor(uninitialized: [samples.count] + samples.sampleShape)
        let size = samples.sampleSize
        try tensor.withUnsafeMutableBufferPointer { buffer in
            for index in 0..<samples.count { try samples.read(index, into: buffer.baseAddress! + index * size) }
        }
        return TensorSamples(tensor)
    }

    /// Throws naming the first NaN or infinite element of float samples read from a file, reading it through once
    /// (in-memory tensors are checked by `Dataset` itself).
    static func checkFinite(_ samples: any SampleSource) throws {
        guard let file = samples as? FileSamples, file.layout.dtype != "|u1" else { return }
        let size = samples.sampleSize
        var buffer = [Float](repeating: 0, count: size)
        for index in 0..<samples.count {
            try buffer.withUnsafeMutableBufferPointer { try samples.read(index, into: $0.baseAddress!) }
            if let element = buffer.firstIndex(where: { !$0.isFinite }) {
                throw ShrinkError(.value, "\(file.path): input element \(index * size + element) (sample \(index)) is "
                    + "\(buffer[element]); expected finite values")
            }
        }
    }

    /// Integer labels of (N,) or (N, 1), one per sample, each a class index below `maximumClasses`.
    static func labels(_ labelArray: NPYArray, source labelSource: String, samples: Int, inputName: String) throws -> [Int32] {
        guard labelArray.shape.count == 1 || (labelArray.shape.count == 2 && labelArray.shape[1] == 1) else {
            throw ShrinkError(.shape, "\(labelSource) has shape \(labelArray.shape); expected (N,) or (N, 1)")
        }
        guard labelArray.shape[0] == samples else {
            throw ShrinkError(.shape, "\(labelSource) holds \(labelArray.shape[0]) labels but \(inputName) holds "
                + "\(samples) samples")
        }
        let values = try withContext(labelSource) { try labelArray.integers() }
        if let index = values.firstIndex(where: { $0 < 0 || $0 >= Int64(DataSource.maximumClasses) }) {
            throw ShrinkError(.value, "\(labelSource): label \(index) is \(values[index]); expected a class index "
                + "from 0 to \(DataSource.maximumClasses - 1)")
        }
        return values.map { Int32($0) }
    }

    /// Checked datasets for both splits, with `classCount` the largest label over both plus one (or the count of
    /// `classNames`); errors name `source` and the split.
    static func makeSplit(
        train: (inputs: any SampleSource, labels: [Int32]), test: (inputs: any SampleSource, labels: [Int32]),
        name: String, source: String, classNames: [String]? = nil
    ) throws -> DataSplit {
        let classCount = classNames?.count ?? Int(max(train.labels.max() ?? 0, test.labels.max() ?? 0, 0)) + 1
        let trainSet = try withContext("\(source) (train split)") {
            try checkFinite(train.inputs)
            var dataset = try Dataset(source: train.inputs, labels: train.labels, classCount: classCount, classNames: classNames)
            dataset.origin = "\(source) (train split)"
            return dataset
        }
        let testSet = try withContext("\(source) (test split)") {
            try checkFinite(test.inputs)
            var dataset = try Dataset(source: test.inputs, labels: test.labels, classCount: classCount, classNames: classNames)
            dataset.origin = "\(source) (test split)"
            return dataset
        }
        return DataSplit(train: trainSet, test: testSet, name: name)
    }

    /// Runs `body`, prefixing the message of a `ShrinkError` it throws with `context`.
    public static func withContext<Result>(_ context: String, _ body: () throws -> Result) throws -> Result {
        do { return try body() } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(context): \(error.message)")
        }
    }
}
