// Bad input never crashes: a clear message on stderr, exit status 1, and no half-written output file.
@testable import Datasets
import Foundation
import Testing

@Suite(.serialized) struct BadInputTests {
    private func trainArguments(data: String, out: String, arch: String = "fmnist-small") -> [String] {
        ["train", "--arch", arch, "--data", data, "--epochs", "1", "--out", out]
    }

    @Test func truncatedIDXFiles() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors"
        let images = IDX.encode(dimensions: [4, 8, 8], bytes: [UInt8](repeating: 7, count: 256))
        let labels = IDX.encode(dimensions: [4], bytes: [0, 1, 2, 1])
        for (name, bytes) in [("train-images-idx3-ubyte", Array(images.prefix(100))), ("train-labels-idx1-ubyte", labels),
                              ("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)] {
            _ = FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data(bytes))
        }
        expectFailure(try shrink(trainArguments(data: dir, out: out)), mentioning: "train-images-idx3-ubyte", noFile: out)
    }

    /// Fashion-MNIST with one training label changed to 200 would otherwise train as a 201-class problem.
    @Test func fashionMNISTWithOneLabelChangedTo200() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors"
        let source = DataSource.fashionMNISTDirectory
        for name in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(dir)/\(name)")
        }
        var labels = try Zlib.inflate(try readFile("\(source)/train-labels-idx1-ubyte.gz"), format: .gzip, name: "labels")
        labels[8 + 1234] = 200
        _ = FileManager.default.createFile(atPath: "\(dir)/train-labels-idx1-ubyte", contents: Data(labels))
        let refused = try shrink(trainArguments(data: dir, out: out))
        expectFailure(refused, mentioning: "11 distinct values spread over 0…200", noFile: out)
        #expect(refused.stderr.contains("sample 1234 of the train split") && refused.stderr.contains("?classes=N"),
                "\(refused.stderr)")
        expectFailure(try shrink(trainArguments(data: dir + "?classes=10", out: out)),
                      mentioning: "(train split): sample 1234 has label 200; classes=10 allows labels 0 to 9", noFile: out)
    }

    @Test func corruptedAndTruncatedNPZ() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors", data = dir + "/d.npz"
        try writeSmallImageNPZ(to: data)
        let bytes = try readFile(data)
        _ = FileManager.default.createFile(atPath: data, contents: Data(bytes.prefix(bytes.count / 2)))
        expectFailure(try shrink(trainArguments(data: data, out: out)), mentioning: data, noFile: out)
        var flipped = bytes
        flipped[200] ^= 0xFF
        _ = FileManager.default.createFile(atPath: data, contents: Data(flipped))
        expectFailure(try shrink(trainArguments(data: data, out: out)), mentioning: data, noFile: out)
    }

    @Test func truncatedNPYMemberInsideNPZ() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors", data = dir + "/d.npz"
        let good = NPYArray(uint8: [UInt8](repeating: 1, count: 64 * 3), shape: [3, 8, 8])
        let truncated = try NPYArray(shape: [3, 8, 8], dtype: "|u1", data: [UInt8](repeating: 1, count: 64 * 3))
        let labels = NPYArray(int64: [0, 1, 2], shape: [3])
        var npy = NPY.encode(truncated)
        npy.removeLast(40)
        // An archive whose x_train member is a truncated NPY (the ZIP itself is intact).
        let raw = try ZipWriter.encode([("x_train.npy", npy), ("y_train.npy", NPY.encode(labels)),
                                        ("x_test.npy", NPY.encode(good)), ("y_test.npy", NPY.encode(labels))],
                                       compressed: false, name: data)
        _ = FileManager.default.createFile(atPath: data, contents: Data(raw))
        expectFailure(try shrink(trainArguments(data: data, out: out)), mentioning: "x_train", noFile: out)
    }

    @Test func corruptSafetensorsFiles() throws {
        let dir = try temporaryDirectory(), data = dir + "/d.npz", model = dir + "/m.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(trainArguments(data: data, out: model)).status == 0)
        let bytes = try readFile(model)
        let truncated = dir + "/truncated.safetensors"
        _ = FileManager.default.createFile(atPath: truncated, contents: Data(bytes.prefix(bytes.count - 100)))
        expectFailure(try shrink(["eval", truncated, "--data", data]), mentioning: truncated)
        let huge = dir + "/huge.safetensors"
        var hugeBytes = bytes
        hugeBytes.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        _ = FileManager.default.createFile(atPath: huge, contents: Data(hugeBytes))
        expectFailure(try shrink(["info", huge]), mentioning: "header claims")
        let text = dir + "/text.safetensors"
        _ = FileManager.default.createFile(atPath: text, contents: Data("hello".utf8))
        expectFailure(try shrink(["bench", text]), mentioning: "not a safetensors file")
    }

    @Test func wrongShapesLabelsOutOfRangeAndNaN() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors"
        let features = NPYArray(float32: [Float](repeating: 0.5, count: 4 * 40), shape: [4, 40])
        let labels = NPYArray(int64: [0, 1, 0, 1], shape: [4])
        let featureData = dir + "/features.npz"
        try NPZ.write([("x_train", features), ("y_train", labels), ("x_test", features), ("y_test", labels)],
                      to: featureData, compressed: false)
        expectFailure(try shrink(trainArguments(data: featureData, out: out, arch: "fmnist-cnn")),
                      mentioning: "needs image samples", noFile: out)
        let negative = dir + "/negative.npz"
        try NPZ.write([("x_train", features), ("y_train", NPYArray(int64: [0, -1, 0, 1], shape: [4])),
                       ("x_test", features), ("y_test", labels)], to: negative, compressed: false)
        expectFailure(try shrink(trainArguments(data: negative, out: out, arch: "mlp")), mentioning: "label", noFile: out)
        var values = [Float](repeating: 0.5, count: 4 * 40)
        values[45] = .nan
        let nan = dir + "/nan.npz"
        try NPZ.write([("x_train", NPYArray(float32: values, shape: [4, 40])), ("y_train", labels),
                       ("x_test", features), ("y_test", labels)], to: nan, compressed: false)
        expectFailure(try shrink(trainArguments(data: nan, out: out, arch: "mlp")), mentioning: "is nan", noFile: out)
        // A 2-class model evaluated on 3-class data: the labels exceed what the model predicts.
        #expect(try shrink(trainArguments(data: featureData, out: out, arch: "mlp")).status == 0)
        let three = dir + "/three.npz"
        let threeLabels = NPYArray(int64: [0, 1, 2, 1], shape: [4])
        try NPZ.write([("x_train", features), ("y_train", threeLabels), ("x_test", features), ("y_test", threeLabels)],
                      to: three, compressed: false)
        expectFailure(try shrink(["eval", out, "--data", three]), mentioning: "classes")
    }

    @Test func unknownArchitectureMissingFilesAndUnwritableOutput() throws {
        let dir = try temporaryDirectory(), data = dir + "/d.npz", out = dir + "/m.safetensors"
        try writeSmallImageNPZ(to: data)
        // A named choice is checked by the argument parser: a usage error (64) that lists the valid values.
        let unknown = try shrink(trainArguments(data: data, out: out, arch: "vgg99"))
        #expect(unknown.status == 64 && unknown.stderr.contains("The value 'vgg99' is invalid for '--arch")
            && unknown.stderr.contains("fmnist-cnn"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let info = try shrink(["info", "--arch", "vgg99"])
        #expect(info.status == 64 && info.stderr.contains("fmnist-cnn"))
        expectFailure(try shrink(["eval", dir + "/missing.safetensors", "--data", data]), mentioning: "missing.safetensors")
        expectFailure(try shrink(trainArguments(data: dir + "/missing.npz", out: out)), mentioning: "missing.npz", noFile: out)
        expectFailure(try shrink(trainArguments(data: data, out: dir + "/no/such/dir/m.safetensors")),
                      mentioning: "does not exist")
        let blocker = dir + "/file"
        _ = FileManager.default.createFile(atPath: blocker, contents: Data([1]))
        expectFailure(try shrink(trainArguments(data: data, out: blocker + "/m.safetensors")), mentioning: blocker)
        let emptyData = try shrink(trainArguments(data: "fashion-mnist", out: out),
                                   environment: ["SHRINK_DATA_DIR": dir + "/nothing-here"])
        expectFailure(emptyData, mentioning: "nothing-here", noFile: out)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["d.npz", "file"])
    }

    @Test func usageErrorsAreReported() throws {
        let r = try shrink(["train", "--arch", "mlp", "--data", "x", "--out", "y", "--epochs", "0"])
        #expect(r.status != 0 && r.stderr.contains("--epochs"))
        let threads = try shrink(["bench", "--kernels", "--threads", "0"])
        #expect(threads.status != 0 && threads.stderr.contains("--threads"))
    }
}

@Suite(.serialized) struct MoreBadInputTests {
    @Test func narrowImagesThatPoolingCannotCoverAndHugeLabels() throws {
        let dir = try temporaryDirectory(), out = dir + "/m.safetensors"
        let narrow = NPYArray(uint8: [UInt8](repeating: 3, count: 4 * 28), shape: [4, 28, 1])
        let labels = NPYArray(int64: [0, 1, 0, 1], shape: [4])
        let data = dir + "/narrow.npz"
        try NPZ.write([("x_train", narrow), ("y_train", labels), ("x_test", narrow), ("y_test", labels)], to: data,
                      compressed: false)
        expectFailure(try shrink(["train", "--arch", "fmnist-cnn", "--data", data, "--out", out]),
                      mentioning: "does not fit", noFile: out)
        let huge = dir + "/huge-label.npz"
        let features = NPYArray(float32: [Float](repeating: 0.5, count: 8), shape: [4, 2])
        try NPZ.write([("x_train", features), ("y_train", NPYArray(int64: [0, 1, 0, 2_147_483_647], shape: [4])),
                       ("x_test", features), ("y_test", labels)], to: huge, compressed: false)
        expectFailure(try shrink(["train", "--arch", "mlp", "--data", huge, "--out", out]), mentioning: "label 3",
                      noFile: out)
    }

    @Test func absurdSizesOnTheCommandLine() throws {
        let big = try shrink(["train", "--arch", "mlp", "--data", "x", "--out", "y", "--batch-size", "9223372036854775807"])
        #expect(big.status != 0 && big.stderr.contains("--batch-size"))
        expectFailure(try shrink(["info", "--arch", "mlp", "--input-shape", "1,100000,100000"]),
                      mentioning: "elements per sample")
        expectFailure(try shrink(["info", "--arch", "mlp", "--classes", "10000000000"]), mentioning: "classes")
        let batches = try shrink(["bench", "m.safetensors", "--batch-sizes", "99999999999999"])
        #expect(batches.status != 0 && batches.stderr.contains("--batch-sizes"))
    }
}
