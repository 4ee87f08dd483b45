// Tests of DataSource: synthetic IDX directories and .npz files written to a temporary directory, the errors for
// missing or malformed data, and the real Fashion-MNIST from the Debian package when it is installed.
import Datasets
import Foundation
import Testing
import Tensors

/// Writes an MNIST-style directory: 3 train and 2 test images of 2×3 pixels, the train files gzip-compressed.
func writeIDXDirectory(_ directory: String, testLabels: [UInt8] = [4, 0]) throws {
    let trainPixels: [UInt8] = Array(0..<18).map { $0 * 15 }
    try writeFixture(Zlib.deflate(IDX.encode(dimensions: [3, 2, 3], bytes: trainPixels), format: .gzip),
                     to: directory + "/train-images-idx3-ubyte.gz")
    try writeFixture(Zlib.deflate(IDX.encode(dimensions: [3], bytes: [1, 3, 2]), format: .gzip),
                     to: directory + "/train-labels-idx1-ubyte.gz")
    try writeFixture(IDX.encode(dimensions: [2, 2, 3], bytes: Array(repeating: 255, count: 12)),
                     to: directory + "/t10k-images-idx3-ubyte")
    try writeFixture(IDX.encode(dimensions: [testLabels.count], bytes: testLabels), to: directory + "/t10k-labels-idx1-ubyte")
}

@Test func idxDirectoryLoadsAsImagesWithAChannelAxis() throws {
    try withTemporaryDirectory { directory in
        try writeIDXDirectory(directory)
        let split = try DataSource.load(directory)
        #expect(split.name == splitName(directory))
        #expect(try split.train.inputs.shape == [3, 1, 2, 3])
        #expect(try split.train.inputs[0, 0, 0, 1] == Float(15) / 255)
        #expect(try split.train.inputs[2, 0, 1, 2] == 1)
        #expect(split.train.labels == [1, 3, 2])
        #expect(try split.test.inputs.scalars == Array(repeating: 1, count: 12))
        #expect(split.test.labels == [4, 0])
        #expect(split.train.classCount == 5 && split.test.classCount == 5, "largest label over both splits + 1")
    }
}

/// The last path component.
func splitName(_ path: String) -> String { String(path.split(separator: "/").last!) }

@Test func fashionMNISTComesFromTheDataDirectoryVariable() throws {
    try withTemporaryDirectory { directory in
        try writeIDXDirectory(directory)
        let split = try DataSource.load("fashion-mnist", environment: ["SHRINK_DATA_DIR": directory])
        #expect(split.name == "fashion-mnist" && split.train.count == 3)
        let nested = directory + "/fashion-mnist"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: false)
        try FileManager.default.moveItem(atPath: directory + "/t10k-labels-idx1-ubyte", toPath: nested + "/t10k-labels-idx1-ubyte")
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte"] {
            try FileManager.default.moveItem(atPath: directory + "/" + name, toPath: nested + "/" + name)
        }
        #expect(try DataSource.load("fashion-mnist", environment: ["SHRINK_DATA_DIR": directory]).test.count == 2)
    }
}

@Test func missingIDXFilesAreNamed() throws {
    try withTemporaryDirectory { directory in
        try writeIDXDirectory(directory)
        try FileManager.default.removeItem(atPath: directory + "/t10k-labels-idx1-ubyte")
        expectShrinkError(.io, containing: [directory, "t10k-labels-idx1-ubyte.gz", "SHRINK_DATA_DIR"]) {
            _ = try DataSource.load("fashion-mnist", environment: ["SHRINK_DATA_DIR": directory])
        }
        expectShrinkError(.io, containing: ["SHRINK_DATA_DIR=/nonexistent", "not a directory"]) {
            _ = try DataSource.load("fashion-mnist", environment: ["SHRINK_DATA_DIR": "/nonexistent"])
        }
    }
}

@Test func aLabelFarFromTheOthersIsRefusedUnlessTheClassCountIsGiven() throws {
    try withTemporaryDirectory { directory in
        // Ten classes, then one label of the test file changed to 200: eleven distinct values spread over 0…200.
        let trainLabels = (0..<20).map { UInt8($0 % 10) }
        try writeFixture(IDX.encode(dimensions: [20, 2, 2], bytes: [UInt8](repeating: 9, count: 80)),
                         to: directory + "/train-images-idx3-ubyte")
        try writeFixture(IDX.encode(dimensions: [20], bytes: trainLabels), to: directory + "/train-labels-idx1-ubyte")
        try writeFixture(IDX.encode(dimensions: [4, 2, 2], bytes: [UInt8](repeating: 3, count: 16)),
                         to: directory + "/t10k-images-idx3-ubyte")
        try writeFixture(IDX.encode(dimensions: [4], bytes: [3, 1, 200, 7]), to: directory + "/t10k-labels-idx1-ubyte")
        expectShrinkError(.value, containing: ["11 distinct values spread over 0…200", "sample 2 of the test split",
                                               "no sample has labels 10, 11", "?classes=N"]) {
            _ = try DataSource.load(directory)
        }
        // A class count that the labels exceed names the split and the sample.
        expectShrinkError(.value, containing: ["(test split): sample 2 has label 200", "classes=10 allows labels 0 to 9"]) {
            _ = try DataSource.load(directory + "?classes=10")
        }
        // Told the classes, the gaps are accepted.
        let split = try DataSource.load(directory + "?classes=201")
        #expect(split.train.classCount == 201 && split.test.classCount == 201)
        #expect(split.test.origin == directory + " (test split)")
        // Without the outlier every class 0…9 has a sample and no option is needed.
        try writeFixture(IDX.encode(dimensions: [4], bytes: [3, 1, 9, 7]), to: directory + "/t10k-labels-idx1-ubyte")
        #expect(try DataSource.load(directory).train.classCount == 10)
        expectShrinkError(.value, containing: ["classes=1 is not valid"]) { _ = try DataSource.load(directory + "?classes=1") }
    }
}

@Test func idxLabelCountMustMatchTheImages() throws {
    try withTemporaryDirectory { directory in
        try writeIDXDirectory(directory, testLabels: [1, 2, 3])
        expectShrinkError(.shape, containing: ["t10k-labels-idx1-ubyte holds 3 labels", "2 images"]) {
            _ = try DataSource.load(directory)
        }
    }
}

@Test func npzWithByteImagesAndAnyIntegerLabelsLoads() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/digits.npz"
        try NPZ.write([
            ("x_train", NPYArray(uint8: [0, 51, 102, 255, 0, 0, 0, 0], shape: [2, 2, 2])),
            ("y_train", try NPYArray(shape: [2], dtype: "<i4", data: [2, 0, 0, 0, 1, 0, 0, 0])),
            ("x_test", NPYArray(uint8: [255, 255, 255, 255], shape: [1, 2, 2])),
            ("y_test", NPYArray(uint8: [6], shape: [1, 1])),
        ], to: path, compressed: true)
        // Labels 1, 2 and 6 leave classes 0, 3, 4 and 5 without a sample: refused unless the count is given.
        expectShrinkError(.value, containing: ["3 distinct values spread over 0…6"]) { _ = try DataSource.load(path) }
        let split = try DataSource.load(path + "?classes=7")
        #expect(split.name == "digits")
        #expect(try split.train.inputs.shape == [2, 1, 2, 2])
        #expect(try split.train.inputs.scalars.prefix(4) == [0, 0.2, 0.4, 1])
        #expect(split.train.labels == [2, 1] && split.test.labels == [6])
        #expect(split.train.classCount == 7)
    }
}

@Test func npzFloatFeaturesAreTakenAsTheyAre() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/features.npz"
        try NPZ.write([
            ("x_train", NPYArray(float32: [0.5, -3, 7, 1e6], shape: [2, 2])), ("y_train", NPYArray(int64: [0, 1])),
            ("x_test", NPYArray(float32: [0, 0, 0, 0, 0, 0, 0, 0], shape: [1, 2, 2, 2])), ("y_test", NPYArray(int64: [1])),
        ], to: path, compressed: false)
        let split = try DataSource.load(path)
        #expect(try split.train.inputs == Tensor(shape: [2, 2], scalars: [0.5, -3, 7, 1e6]))
        #expect(split.test.sampleShape == [2, 2, 2])
        #expect(split.train.classCount == 2)
    }
}

@Test func npzProblemsNameTheFileAndTheArray() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/bad.npz"
        let good: [(String, NPYArray)] = [
            ("x_train", NPYArray(float32: [1, 2], shape: [2, 1])), ("y_train", NPYArray(int64: [0, 1])),
            ("x_test", NPYArray(float32: [3], shape: [1, 1])), ("y_test", NPYArray(int64: [1])),
        ]
        func expectLoadError(_ arrays: [(String, NPYArray)], _ kind: ShrinkError.Kind, _ fragments: [String],
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
            try NPZ.write(arrays, to: path, compressed: false)
            expectShrinkError(kind, containing: [path] + fragments, sourceLocation: sourceLocation) {
                _ = try DataSource.load(path)
            }
        }
        try expectLoadError(Array(good.dropLast()), .format, ["no array 'y_test'", "found: x_test, x_train, y_train"])
        try expectLoadError(good.dropLast() + [("y_test", NPYArray(int64: [1, 0]))], .shape,
                            ["y_test holds 2 labels", "x_test holds 1 samples"])
        try expectLoadError(good.dropLast() + [("y_test", NPYArray(int64: [-3]))], .value, ["y_test", "label 0 is -3"])
        try expectLoadError(good.dropLast() + [("y_test", NPYArray(float32: [1]))], .format, ["y_test", "integer"])
        try expectLoadError([("x_train", NPYArray(float32: [1, .nan], shape: [2, 1]))] + good.dropFirst(), .value,
                            ["(train split)", "input element 1", "nan"])
        try expectLoadError([("x_train", NPYArray(int64: [1, 2], shape: [2, 1]))] + good.dropFirst(), .unsupported,
                            ["x_train has dtype <i8"])
        try expectLoadError([("x_train", NPYArray(float32: [1, 2]))] + good.dropFirst(), .shape, ["x_train has shape [2]"])
    }
}

@Test func unknownSpecsSayWhatWasExpected() throws {
    expectShrinkError(.io, containing: ["/nonexistent/data", "fashion-mnist", ".npz"]) {
        _ = try DataSource.load("/nonexistent/data")
    }
    expectShrinkError(.io, containing: ["no such file: /nonexistent/data.npz"]) { _ = try DataSource.load("/nonexistent/data.npz") }
    try withTemporaryDirectory { directory in
        try writeFixture([1, 2, 3], to: directory + "/data.csv")
        expectShrinkError(.unsupported, containing: [directory + "/data.csv", "unknown data format"]) {
            _ = try DataSource.load(directory + "/data.csv")
        }
    }
}

@Test(.enabled(if: FileManager.default.fileExists(atPath: DataSource.fashionMNISTDirectory),
               "needs the Debian package dataset-fashion-mnist"))
func realFashionMNISTLoads() throws {
    let split = try DataSource.load("fashion-mnist", environment: [:])
    #expect(split.name == "fashion-mnist")
    #expect(split.train.count == 60000 && split.test.count == 10000)
    #expect(split.train.sampleShape == [1, 28, 28] && split.test.sampleShape == [1, 28, 28])
    #expect(split.train.classCount == 10)
    #expect(try split.train.inputs.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(Set(split.test.labels) == Set(0..<10))
}
