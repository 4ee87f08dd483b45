// DataSource+Arrays: turns the arrays of a data file into checked Datasets — .npz archives, uint8 pixels scaled to
// [0, 1], image shapes given their channel axis, integer labels of any dtype, and the class count of both splits.
import Tensors

extension DataSource {
    /// The keys an .npz data file must hold.
    public static let npzKeys = (trainInputs: "x_train", trainLabels: "y_train", testInputs: "x_test", testLabels: "y_test")

    /// A split from an .npz archive with `x_train`, `y_train`, `x_test`, `y_test`.
    static func loadNPZ(_ path: String) throws -> DataSplit {
        let arrays = try NPZ.read(contentsOf: path)
        func array(_ key: String) throws -> NPYArray {
            guard let array = arrays[key] else {
                let present = arrays.keys.sorted().joined(separator: ", ")
                throw ShrinkError(.format, "\(path) has no array '\(key)'; expected x_train, y_train, x_test and y_test "
                    + "(found: \(present.isEmpty ? "none" : present))")
            }
            return array
        }
        func split(inputs inputKey: String, labels labelKey: String) throws -> (Tensor, [Int32]) {
            let inputArray = try array(inputKey)
            let inputs = try inputTensor(shape: inputArray.shape, key: inputKey, path: path) {
                switch inputArray.dtype {
                case "|u1": return scaledPixels(inputArray.data)
                case "<f4", "<f8": return try inputArray.floats()
                default:
                    throw ShrinkError(.unsupported, "\(path): \(inputKey) has dtype \(inputArray.dtype); expected uint8 "
                        + "images (|u1) or floats (<f4, <f8)")
                }
            }
            let labelArray = try array(labelKey)
            let labelSource = "\(path): \(labelKey)"
            guard labelArray.shape.count == 1 || (labelArray.shape.count == 2 && labelArray.shape[1] == 1) else {
                throw ShrinkError(.shape, "\(labelSource) has shape \(labelArray.shape); expected (N,) or (N, 1)")
            }
            guard labelArray.shape[0] == inputs.shape[0] else {
                throw ShrinkError(.shape, "\(labelSource) holds \(labelArray.shape[0]) labels but \(inputKey) holds "
                    + "\(inputs.shape[0]) samples")
            }
            let values = try withContext(labelSource) { try labelArray.integers() }
            if let index = values.firstIndex(where: { $0 < 0 || $0 >= Int64(DataSource.maximumClasses) }) {
                throw ShrinkError(.value, "\(labelSource): label \(index) is \(values[index]); expected a class index "
                    + "from 0 to \(DataSource.maximumClasses - 1)")
            }
            return (inputs, values.map { Int32($0) })
        }
        let train = try split(inputs: npzKeys.trainInputs, labels: npzKeys.trainLabels)
        let test = try split(inputs: npzKeys.testInputs, labels: npzKeys.testLabels)
        var name = splitPath(path).name
        name.removeLast(4)
        return try makeSplit(train: train, test: test, name: name, source: path)
    }

    /// Checked datasets for both splits, with `classCount` the largest label over both plus one; errors name
    /// `source` and the split.
    static func makeSplit(
        train: (inputs: Tensor, labels: [Int32]), test: (inputs: Tensor, labels: [Int32]), name: String, source: String
    ) throws -> DataSplit {
        let classCount = Int(max(train.labels.max() ?? 0, test.labels.max() ?? 0, 0)) + 1
        let trainSet = try withContext("\(source) (train split)") {
            try Dataset(inputs: train.inputs, labels: train.labels, classCount: classCount)
        }
        let testSet = try withContext("\(source) (test split)") {
            try Dataset(inputs: test.inputs, labels: test.labels, classCount: classCount)
        }
        return DataSplit(train: trainSet, test: testSet, name: name)
    }

    /// Inputs of `shape` as a tensor: (N, H, W) becomes (N, 1, H, W); (N, D) and (N, C, H, W) stay.
    static func inputTensor(shape: [Int], key: String, path: String, values: () throws -> [Float]) throws -> Tensor {
        let tensorShape: [Int]
        switch shape.count {
        case 2, 4: tensorShape = shape
        case 3: tensorShape = [shape[0], 1, shape[1], shape[2]]
        default:
            throw ShrinkError(.shape, "\(path): \(key) has shape \(shape); expected (N, D), (N, H, W) or (N, C, H, W)")
        }
        return Tensor(shape: tensorShape, scalars: try values())
    }

    /// `x / 255` for every pixel, in a tight loop over unsafe buffers.
    static func scaledPixels(_ bytes: [UInt8]) -> [Float] {
        bytes.withUnsafeBufferPointer { source in
            [Float](unsafeUninitializedCapacity: source.count) { destination, initialized in
                for index in 0..<source.count { destination[index] = Float(source[index]) / 255 }
                initialized = source.count
            }
        }
    }

    /// Runs `body`, prefixing the message of a `ShrinkError` it throws with `context`.
    static func withContext<Result>(_ context: String, _ body: () throws -> Result) throws -> Result {
        do { return try body() } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(context): \(error.message)")
        }
    }
}
