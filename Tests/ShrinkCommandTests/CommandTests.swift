// The CLI end to end on small synthetic data: info, train, eval, bench, and JSON shapes.
import Datasets
import NeuralNetworks
import Tensors
import Foundation
import Testing

/// A small 3-class image problem in NPZ form: `train` training and `test` test images of 1×8×8 (90 and 30 by default).
func writeSmallImageNPZ(to path: String, train: Int = 90, test: Int = 30, seed: UInt64 = 11) throws {
    var g = SeededGenerator(seed: seed)
    func images(_ n: Int) -> (NPYArray, NPYArray) {
        var x: [UInt8] = [], y: [Int64] = []
        for i in 0..<n {
            let label = i % 3
            for p in 0..<64 { x.append(UInt8(p % 3 == label ? 200 : Int(g.nextInt(below: 60)))) }
            y.append(Int64(label))
        }
        return (NPYArray(uint8: x, shape: [n, 8, 8]), NPYArray(int64: y, shape: [n]))
    }
    let (xTrain, yTrain) = images(train), (xTest, yTest) = images(test)
    try NPZ.write([("x_train", xTrain), ("y_train", yTrain), ("x_test", xTest), ("y_test", yTest)], to: path,
                  compressed: true)
}

@Suite(.serialized) struct CommandTests {
    @Test func infoReportsTheDocumentedCost() throws {
        let result = try shrink(["info", "--arch", "fmnist-cnn", "--json"])
        #expect(result.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(json["parameters"] as? Int == 421_642)
        #expect(json["macs"] as? Int == 4_241_152)
        #expect((json["layers"] as? [[String: Any]])?.count == 10)
        let table = try shrink(["info", "--arch", "mlp"])
        #expect(table.status == 0 && table.stdout.contains("235,146"))
    }

    @Test func trainEvalInfoAndBenchOnASmallProblem() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/model.safetensors"
        try writeSmallImageNPZ(to: data)
        let train = try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "10", "--batch-size", "16",
                                "--out", model, "--json", "--threads", "1"])
        #expect(train.status == 0, "\(train.stderr)")
        let t = try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as! [String: Any]
        #expect((t["test_accuracy"] as? Double ?? 0) > 0.9)
        #expect(t["train_seconds"] is Double && t["samples_per_second"] is Double)
        let eval = try shrink(["eval", model, "--data", data, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as! [String: Any]
        #expect(e["accuracy"] as? Double == t["test_accuracy"] as? Double)
        #expect(e["samples"] as? Int == 30)
        #expect(e.keys.sorted() == ["accuracy", "loss", "samples", "top5"])
        let info = try shrink(["info", model, "--json"])
        #expect(info.status == 0 && info.stdout.contains("\"arch\" : \"fmnist-small\""))
        let bench = try shrink(["bench", model, "--batch-sizes", "1,4", "--seconds", "0.05", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let b = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as! [String: Any]
        let latency = ((b["models"] as! [[String: Any]])[0]["latency"] as! [[String: Any]])
        #expect(latency.map { $0["batch_size"] as! Int } == [1, 4])
        #expect(latency.allSatisfy { ($0["median_ms"] as! Double) > 0 && ($0["p99_ms"] as! Double) >= ($0["median_ms"] as! Double) })
    }

    @Test func sameSeedGivesByteIdenticalModelFiles() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz"
        try writeSmallImageNPZ(to: data)
        for name in ["a", "b"] {
            let r = try shrink(["train", "--arch", "fmnist-cnn", "--data", data, "--epochs", "1", "--batch-size", "8",
                                "--out", "\(dir)/\(name).safetensors", "--seed", "3"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try readFile(dir + "/a.safetensors") == readFile(dir + "/b.safetensors"))
    }

    @Test func kernelBenchListsSgemmShapes() throws {
        let r = try shrink(["bench", "--kernels", "--seconds", "0.01", "--json", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let kernels = json["kernels"] as! [[String: Any]]
        let names = ["sgemm", "sgemm-builtin", "u8s8-openblas", "u8s8-native", "binary", "spmm-5%"]
        #expect(kernels.map { $0["name"] as! String } == names.flatMap { Array(repeating: $0, count: 3) })
        #expect(kernels.map { $0["m"] as! Int } == Array(Array(repeating: [1024, 256, 1], count: 6).joined()))
        #expect(kernels.allSatisfy { ($0["gops"] as! Double) > 0 })
    }
}

@Suite(.serialized) struct QuantizeCommandTests {
    @Test func quantizeEvalAndBenchAnInt8Model() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/float.safetensors", quantized = dir + "/int8.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "10", "--batch-size", "16",
                            "--out", model]).status == 0)
        let q = try shrink(["quantize", model, "--data", data, "--out", quantized, "--calibration-samples", "40",
                            "--validation-samples", "50", "--json"])
        #expect(q.status == 0, "\(q.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as! [String: Any]
        let floatAccuracy = report["float_test_accuracy"] as! Double, int8Accuracy = report["quantized_test_accuracy"] as! Double
        #expect(abs(floatAccuracy - int8Accuracy) <= 0.1)
        #expect((report["quantized_bytes"] as! Int) < (report["float_bytes"] as! Int))
        // On so small a model the metadata dominates the file; the weights themselves are int8 with F32 scales.
        let container = try SafeTensorsFile.decode(try readFile(quantized), file: quantized)
        #expect(container.tensors["conv1.weight"]?.dtype == "I8" && container.tensors["fc2.weight"]?.dtype == "I8")
        #expect(container.tensors["conv1.weight_scale"]?.shape == [8])
        #expect(!(report["attempts"] as! [[String: Any]]).isEmpty)
        let eval = try shrink(["eval", quantized, "--data", data, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as! [String: Any]
        #expect(e["accuracy"] as? Double == int8Accuracy)
        #expect(try shrink(["bench", quantized, "--batch-sizes", "1", "--seconds", "0.02"]).status == 0)
        // A quantized file also opens as a float model (weights dequantized) for `info`.
        #expect(try shrink(["info", quantized]).status == 0)
        expectFailure(try shrink(["quantize", quantized, "--data", data, "--out", dir + "/again.safetensors"]),
                      mentioning: "already quantized", noFile: dir + "/again.safetensors")
        let unknown = try shrink(["quantize", model, "--data", data, "--out", dir + "/x.safetensors", "--observer", "magic"])
        #expect(unknown.status != 0 && unknown.stderr.contains("The value 'magic' is invalid for '--observer"))
    }

    @Test func weightOnlyLowBitsPerTensorAndLayersKeptInFloat() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/small.npz", model = dir + "/float.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "10", "--batch-size", "16",
                            "--out", model]).status == 0)
        func report(_ arguments: [String]) throws -> [String: Any] {
            let r = try shrink(["quantize", model, "--data", data, "--json"] + arguments)
            #expect(r.status == 0, "\(r.stderr)")
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        }
        func info(_ file: String) throws -> [[String: Any]] {
            let r = try shrink(["info", file, "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return object?["layers"] as? [[String: Any]] ?? []
        }
        // Weight-only, 4 bits: packed U8 codes, a float model at load (eval agrees with the report).
        let w4 = dir + "/w4.safetensors"
        let r4 = try report(["--out", w4, "--weight-only", "--weight-bits", "4", "--max-accuracy-drop", "100"])
        #expect(r4["mode"] as? String == "weight-only")
        let container = try SafeTensorsFile.decode(try readFile(w4), file: w4)
        let conv1 = try #require(container.tensors["conv1.weight"])
        #expect(conv1.dtype == "U8" && conv1.bytes.count == (8 * 1 * 3 * 3 * 4 + 7) / 8)
        #expect(container.metadata["shrink.quantization"] == nil && container.metadata["shrink.weights"] != nil)
        let eval = try shrink(["eval", w4, "--data", data, "--json"])
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        #expect(e?["accuracy"] as? Double == r4["quantized_test_accuracy"] as? Double)
        let layers4 = try info(w4)
        #expect(layers4.first { $0["name"] as? String == "conv1" }?["weight_bits"] as? Int == 4)
        #expect(layers4.first { $0["name"] as? String == "conv1" }?["activation_bits"] as? Int == 32)
        expectFailure(try shrink(["quantize", w4, "--data", data, "--out", dir + "/again.safetensors"]),
                      mentioning: "already quantized", noFile: dir + "/again.safetensors")
        // Integer engine with 6-bit per-tensor weights, 7-bit activations, fc2 kept in float.
        let mixed = dir + "/mixed.safetensors"
        let rm = try report(["--out", mixed, "--weight-bits", "6", "--activation-bits", "7", "--granularity", "per-tensor",
                             "--observer", "minmax", "--keep-float", "fc2", "--max-accuracy-drop", "100"])
        let chosen = rm["chosen"] as? [String: Any]
        #expect(chosen?["float_layers"] as? [String] == ["fc2"] && chosen?["granularity"] as? String == "per-tensor")
        #expect((rm["float_nodes"] as? [String])?.contains("fc2") == true)
        let m = try SafeTensorsFile.decode(try readFile(mixed), file: mixed)
        #expect(m.tensors["fc2.weight"]?.dtype == "F32" && m.tensors["conv1.weight_scale"]?.shape == [1])
        let layers = try info(mixed)
        let conv1Info = layers.first { $0["name"] as? String == "conv1" }
        #expect(conv1Info?["weight_bits"] as? Int == 6 && conv1Info?["weight_granularity"] as? String == "per-tensor")
        #expect(conv1Info?["activation_bits"] as? Int == 7)
        #expect(layers.first { $0["name"] as? String == "fc2" }?["weight_bits"] as? Int == 32)
        let evalMixed = try shrink(["eval", mixed, "--data", data, "--json"])
        let em = try JSONSerialization.jsonObject(with: Data(evalMixed.stdout.utf8)) as? [String: Any]
        #expect(em?["accuracy"] as? Double == rm["quantized_test_accuracy"] as? Double)
        // Per-layer weight bits on the integer engine: fc1 at 4, the rest at the default 8.
        let layered = dir + "/layered.safetensors"
        let rl = try report(["--out", layered, "--layer-weight-bits", "fc1=4", "--observer", "minmax",
                             "--max-accuracy-drop", "100"])
        #expect((rl["chosen"] as? [String: Any])?["layer_weight_bits"] as? [String: Int] == ["fc1": 4])
        let layeredInfo = try info(layered)
        #expect(layeredInfo.first { $0["name"] as? String == "fc1" }?["weight_bits"] as? Int == 4)
        #expect(layeredInfo.first { $0["name"] as? String == "conv1" }?["weight_bits"] as? Int == 8)
        let unknown = try shrink(["quantize", model, "--data", data, "--out", dir + "/x.safetensors",
                                  "--layer-weight-bits", "fc9=4"])
        #expect(unknown.status == 1 && unknown.stderr.contains("fc9"), "\(unknown.stderr)")
    }

    @Test func badQuantizationSettingsWriteNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/small.npz", model = dir + "/float.safetensors", out = dir + "/q.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "1", "--out", model]).status == 0)
        for (arguments, text) in [(["--weight-bits", "9"], "--weight-bits must be in 2…8, got 9"),
                                  (["--weight-bits", "1"], "--weight-bits must be in 2…8, got 1"),
                                  (["--activation-bits", "0"], "--activation-bits must be in 2…8"),
                                  (["--weight-only", "--activation-bits", "4"], "does not apply with --weight-only"),
                                  (["--granularity", "per-row"], "The value 'per-row' is invalid for '--granularity"),
                                  (["--max-float-layers", "-1"], "--max-float-layers")] {
            let r = try shrink(["quantize", model, "--data", data, "--out", out] + arguments)
            #expect(r.status != 0 && r.stderr.contains(text), "\(arguments): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"))
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        expectFailure(try shrink(["quantize", model, "--data", data, "--out", out, "--keep-float", "pool9"]),
                      mentioning: "'pool9' is not a conv or linear node", noFile: out)
        // A training split of one sample leaves nothing to validate on.
        let one = dir + "/one.npz"
        try NPZ.write([("x_train", NPYArray(uint8: [UInt8](repeating: 9, count: 64), shape: [1, 8, 8])),
                       ("y_train", NPYArray(int64: [0], shape: [1])),
                       ("x_test", NPYArray(uint8: [UInt8](repeating: 9, count: 64), shape: [1, 8, 8])),
                       ("y_test", NPYArray(int64: [0], shape: [1]))], to: one, compressed: false)
        expectFailure(try shrink(["quantize", model, "--data", one, "--out", out]), mentioning: "needs at least 2",
                      noFile: out)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["float.safetensors", "one.npz",
                                                                                      "small.npz"])
    }
}

@Suite(.serialized) struct PruneCommandTests {
    @Test func unstructuredAndFilterPruning() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/float.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "5", "--batch-size", "16",
                            "--out", model]).status == 0)
        func report(_ arguments: [String]) throws -> [String: Any] {
            let r = try shrink(["prune", model, "--data", data, "--validation-samples", "20", "--batch-size", "16",
                                "--json"] + arguments)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("round 1: target"))
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        }
        let sparse = dir + "/sparse.safetensors"
        let u = try report(["--out", sparse, "--sparsity", "0.7", "--schedule", "iterative", "--rounds", "2"])
        #expect((u["steps"] as? [[String: Any]])?.count == 2)
        let dense = u["dense"] as? [String: Any], pruned = u["pruned"] as? [String: Any]
        let nonzero = pruned?["nonzero_parameters"] as? Int ?? 0, parameters = dense?["parameters"] as? Int ?? 0
        #expect(nonzero > 0 && Double(nonzero) < 0.4 * Double(parameters))
        let eval = try shrink(["eval", sparse, "--data", data, "--json"])
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        #expect(e?["accuracy"] as? Double == pruned?["test_accuracy"] as? Double)
        // Filter pruning: smaller layers that info shows.
        let small = dir + "/filters.safetensors"
        let f = try report(["--out", small, "--sparsity", "0.5", "--structure", "filter"])
        #expect(((f["pruned"] as? [String: Any])?["macs"] as? Int ?? .max) < ((f["dense"] as? [String: Any])?["macs"] as? Int ?? 0))
        let info = try shrink(["info", small, "--json"])
        let layers = (try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])?["layers"]
            as? [[String: Any]] ?? []
        #expect(layers.first { $0["name"] as? String == "conv1" }?["output_shape"] as? [Int] == [4, 8, 8])
        let provenance = try SafeTensorsFile.decode(try readFile(small), file: small).metadata["shrink.provenance"] ?? ""
        #expect(provenance.contains("\"prune\"") && provenance.contains("filter"))
        // Per-layer settings: conv1 keeps its weights, fc1 loses 90%, the rest the global 50%; the report has the
        // pass shape's keys beside the old ones.
        let layered = try report(["--out", dir + "/layered.safetensors", "--sparsity", "0.5", "--scope", "layer",
                                  "--layer-sparsity", "fc1=0.9", "--excluded-layers", "conv1"])
        let shares = layered["layer_sparsity"] as? [String: Double] ?? [:]
        #expect(shares["conv1"] == 0 && abs((shares["fc1"] ?? 0) - 0.9) < 0.01 && abs((shares["conv2"] ?? 0) - 0.5) < 0.01,
                "\(shares)")
        #expect(layered["pass"] as? String == "prune" && layered["before"] != nil && layered["after"] != nil)
        #expect((layered["settings"] as? [String: String])?["excluded_layers"] == "conv1")
        let unknown = try shrink(["prune", model, "--data", data, "--out", dir + "/x.safetensors", "--sparsity", "0.5",
                                  "--excluded-layers", "conv9"])
        #expect(unknown.status == 1 && unknown.stderr.contains("conv9"), "\(unknown.stderr)")
        let malformed = try shrink(["prune", model, "--data", data, "--out", dir + "/x.safetensors", "--sparsity", "0.5",
                                    "--layer-sparsity", "fc1"])
        #expect(malformed.status == 64 && malformed.stderr.contains("'--layer-sparsity' entries are node=value, got 'fc1'"))
    }

    @Test func badPruningRequestsWriteNothing() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/float.safetensors", out = dir + "/p.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "1", "--out", model]).status == 0)
        for (arguments, text) in [(["--sparsity", "1"], "--sparsity must be in [0, 1)"),
                                  (["--sparsity=-0.5"], "--sparsity must be in [0, 1)"),
                                  (["--sparsity", "0.5", "--score", "obs2"], "The value 'obs2' is invalid for '--score"),
                                  (["--sparsity", "0.5", "--structure", "blocks"], "The value 'blocks' is invalid for '--structure"),
                                  (["--sparsity", "0.5", "--rounds", "0"], "--rounds")] {
            let r = try shrink(["prune", model, "--data", data, "--out", out] + arguments)
            #expect(r.status != 0 && r.stderr.contains(text), "\(arguments): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        // fmnist-small's conv1 has 8 channels: removing 95% of them would empty it.
        expectFailure(try shrink(["prune", model, "--data", data, "--out", out, "--sparsity", "0.95", "--structure",
                                  "filter"]), mentioning: "would empty", noFile: out)
        expectFailure(try shrink(["prune", model, "--data", data, "--out", out, "--sparsity", "0.5", "--structure",
                                  "filter", "--score", "bn-scale"]), mentioning: "BatchNorm", noFile: out)
        expectFailure(try shrink(["prune", model, "--data", data, "--out", out, "--sparsity", "0.5", "--structure",
                                  "filter", "--schedule", "gradual"]), mentioning: "gradual", noFile: out)
        let quantized = dir + "/q.safetensors"
        #expect(try shrink(["quantize", model, "--data", data, "--out", quantized]).status == 0)
        expectFailure(try shrink(["prune", quantized, "--data", data, "--out", out, "--sparsity", "0.5"]),
                      mentioning: "quantized", noFile: out)
        expectUsageError(try shrink(["prune", model, "--data", data, "--out", out, "--sparsity", "0.5", "--reconstruct"]),
                         mentioning: "filter", noFile: out)
        // A model with nothing to prune: a flatten alone (8×8 images to 64 "logits").
        var builder = GraphBuilder(inputShape: [1, 8, 8])
        try builder.add("flat", Flatten())
        let empty = dir + "/empty.safetensors"
        try Model(architecture: "none", graph: try builder.build(), normalization: Normalization(mean: 0, std: 1))
            .save(to: empty)
        expectFailure(try shrink(["prune", empty, "--data", data, "--out", out, "--sparsity", "0.5"]),
                      mentioning: "no conv or linear layer", noFile: out)
    }
}

@Suite(.serialized) struct SensitivityCommandTests {
    @Test func tableJSONAndChart() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/float.safetensors", chart = dir + "/s.svg"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "2", "--out", model]).status == 0)
        let r = try shrink(["sensitivity", model, "--data", data, "--samples", "30", "--sparsities", "0,0.5,0.9",
                            "--svg", chart, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let layers = object?["layers"] as? [[String: Any]] ?? []
        #expect(layers.map { $0["layer"] as? String } == ["conv1", "conv2", "fc1", "fc2"])
        #expect(layers.allSatisfy { ($0["points"] as? [[String: Any]])?.count == 3 })
        let svg = String(decoding: try readFile(chart), as: UTF8.self)
        #expect(svg.contains("<svg") && svg.components(separatedBy: "<polyline").count == 5)
        let table = try shrink(["sensitivity", model, "--data", data, "--samples", "30", "--sparsities", "0,0.5"])
        #expect(table.status == 0 && table.stdout.contains("conv2") && table.stdout.contains("50%"))
        let bad = try shrink(["sensitivity", model, "--data", data, "--sparsities", "0,1.5"])
        #expect(bad.status != 0 && bad.stderr.contains("--sparsities"))
        expectFailure(try shrink(["sensitivity", model, "--data", data, "--score", "bn-scale", "--svg", dir + "/x.svg"]),
                      mentioning: "bn-scale", noFile: dir + "/x.svg")
    }
}

@Suite(.serialized) struct DistillCommandTests {
    @Test func seedsAgainstTheStudentAloneAndBadInput() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", teacher = dir + "/teacher.safetensors", out = dir + "/student.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-cnn", "--data", data, "--epochs", "3", "--batch-size", "16",
                            "--out", teacher]).status == 0)
        let r = try shrink(["distill", "--teacher", teacher, "--arch", "fmnist-small", "--data", data, "--out", out,
                            "--seeds", "2", "--epochs", "2", "--batch-size", "16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let with = object?["with_distillation"] as? [String: Any], alone = object?["student_alone"] as? [String: Any]
        #expect((with?["accuracies"] as? [Double])?.count == 2 && (alone?["accuracies"] as? [Double])?.count == 2)
        #expect(with?["mean"] is Double && alone?["std"] is Double)
        // The saved student is the first distilled one, and evaluates as reported.
        let eval = try shrink(["eval", out, "--data", data, "--json"])
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        #expect(e?["accuracy"] as? Double == (with?["accuracies"] as? [Double])?.first)
        // A temperature sweep with a chart.
        let chart = dir + "/t.svg"
        let sweep = try shrink(["distill", "--teacher", teacher, "--arch", "fmnist-small", "--data", data, "--out", out,
                                "--temperatures", "1,4", "--seeds", "1", "--epochs", "1", "--svg", chart])
        #expect(sweep.status == 0 && sweep.stdout.contains("student alone"), "\(sweep.stderr)")
        #expect(String(decoding: try readFile(chart), as: UTF8.self).contains("<polyline"))

        let other = dir + "/other.npz", fiveClass = dir + "/five.safetensors"
        var g = SeededGenerator(seed: 4)
        let images = NPYArray(uint8: (0..<(50 * 64)).map { _ in UInt8(g.nextInt(below: 256)) }, shape: [50, 8, 8])
        let labels = NPYArray(int64: (0..<50).map { Int64($0 % 5) }, shape: [50])
        try NPZ.write([("x_train", images), ("y_train", labels), ("x_test", images), ("y_test", labels)], to: other,
                      compressed: false)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", other, "--epochs", "1", "--out", fiveClass])
            .status == 0)
        let bad = dir + "/bad.safetensors"
        expectFailure(try shrink(["distill", "--teacher", teacher, "--student", fiveClass, "--data", data, "--out", bad]),
                      mentioning: "classes", noFile: bad)
        expectFailure(try shrink(["distill", "--teacher", teacher, "--arch", "fmnist-small", "--data", data, "--out", bad,
                                  "--kind", "feature", "--feature-pairs", "conv9:relu3"]),
                      mentioning: "no node named 'conv9'", noFile: bad)
        for (arguments, text) in [(["--temperature", "0"], "--temperature must be positive"),
                                  (["--temperature=-2"], "--temperature must be positive"),
                                  (["--alpha", "1.5"], "--alpha must be in [0, 1]"),
                                  (["--kind", "dark"], "The value 'dark' is invalid for '--kind"),
                                  (["--feature-pairs", "relu3"], "teacherNode:studentNode")] {
            let result = try shrink(["distill", "--teacher", teacher, "--arch", "fmnist-small", "--data", data, "--out",
                                     bad] + arguments)
            #expect(result.status != 0 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: bad))
    }
}

@Suite(.serialized) struct QATCommandTests {
    @Test func trainsConvertsAndRefusesBadInput() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", model = dir + "/float.safetensors", out = dir + "/qat.safetensors"
        try writeSmallImageNPZ(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "5", "--batch-size", "16",
                            "--out", model]).status == 0)
        let r = try shrink(["qat", model, "--data", data, "--out", out, "--weight-bits", "6", "--activation-bits", "7",
                            "--epochs", "2", "--batch-size", "16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((report?["agreement"] as? Double ?? 0) >= 0.9)
        // The saved file is an integer model that eval runs on the integer engine, with the accuracy reported.
        let eval = try shrink(["eval", out, "--data", data, "--json"])
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any]
        #expect(e?["accuracy"] as? Double == report?["integer_test_accuracy"] as? Double)
        let info = try shrink(["info", out, "--json"])
        let layers = (try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])?["layers"]
            as? [[String: Any]] ?? []
        #expect(layers.first { $0["name"] as? String == "conv1" }?["weight_bits"] as? Int == 6)
        let bad = dir + "/bad.safetensors"
        for (arguments, text) in [(["--weight-bits", "1"], "--weight-bits must be in 2…8"),
                                  (["--activation-bits", "9"], "--activation-bits must be in 2…8"),
                                  (["--epochs", "0"], "--epochs")] {
            let result = try shrink(["qat", model, "--data", data, "--out", bad] + arguments)
            #expect(result.status != 0 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        expectFailure(try shrink(["qat", out, "--data", data, "--out", bad]), mentioning: "already quantized", noFile: bad)
        // Binarized: conv2 and fc1 at one bit, the file runs in eval and shows its bits in info.
        let binary = dir + "/binary.safetensors"
        let b = try shrink(["qat", model, "--data", data, "--out", binary, "--binary", "--epochs", "3", "--batch-size",
                            "16", "--json"])
        #expect(b.status == 0, "\(b.stderr)")
        let br = try JSONSerialization.jsonObject(with: Data(b.stdout.utf8)) as? [String: Any]
        #expect(br?["binary_layers"] as? [String] == ["conv2", "fc1"] && (br?["agreement"] as? Double ?? 0) >= 0.95)
        // (A 12×12 model: the graph and provenance metadata are a good part of the file.)
        #expect((br?["binarized_bytes"] as? Int ?? .max) < (br?["float_bytes"] as? Int ?? 0) / 2)
        let beval = try shrink(["eval", binary, "--data", data, "--json"])
        let be = try JSONSerialization.jsonObject(with: Data(beval.stdout.utf8)) as? [String: Any]
        #expect(be?["accuracy"] as? Double == br?["binarized_test_accuracy"] as? Double)
        let binfo = try shrink(["info", binary])
        #expect(binfo.stdout.contains("binary_conv2d") && binfo.stdout.contains("binary per-channel"))
        for (arguments, text) in [(["--binary", "--weight-bits", "4"], "--binary"),
                                  (["--binary", "--learnable-scales"], "--learnable-scales"),
                                  (["--ternary", "--weight-bits", "4"], "--ternary")] {
            let result = try shrink(["qat", model, "--data", data, "--out", bad] + arguments)
            #expect(result.status != 0 && result.stderr.contains(text) && !FileManager.default.fileExists(atPath: bad),
                    "\(arguments): \(result.stderr)")
        }
        // Ternary weights with learned scales: 2-bit codes in the file.
        let ternary = dir + "/ternary.safetensors"
        let t = try shrink(["qat", model, "--data", data, "--out", ternary, "--ternary", "--learnable-scales",
                            "--epochs", "2", "--batch-size", "16", "--json"])
        #expect(t.status == 0, "\(t.stderr)")
        let tr = try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any]
        #expect(tr?["weights"] as? String == "ternary" && tr?["weight_bits"] as? Int == 2 && tr?["learnable_scales"] as? Bool == true)
        let tinfo = try shrink(["info", ternary])
        #expect(tinfo.stdout.contains("int2 per-channel"))
        expectFailure(try shrink(["qat", binary, "--data", data, "--out", bad]), mentioning: "already quantized", noFile: bad)
        // Mixed precision: a budget the model fits, with bits per layer in the report, and the refusals.
        let mixed = dir + "/mixed.safetensors"
        let m = try shrink(["quantize", model, "--data", data, "--out", mixed, "--mixed-precision", "--size-budget",
                            "60000", "--json"])
        #expect(m.status == 0, "\(m.stderr)")
        let mr = try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any]
        #expect((mr?["bytes"] as? Int ?? .max) <= 60000 && (mr?["bits"] as? [String: Int])?.count == 4)
        for (arguments, text) in [(["--mixed-precision"], "--size-budget"),
                                  (["--size-budget", "1000"], "--mixed-precision"),
                                  (["--mixed-precision", "--size-budget", "1000", "--weight-only"], "--weight-only")] {
            let result = try shrink(["quantize", model, "--data", data, "--out", bad] + arguments)
            #expect(result.status != 0 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        expectFailure(try shrink(["quantize", model, "--data", data, "--out", bad, "--mixed-precision", "--size-budget",
                                  "500"]), mentioning: "smallest", noFile: bad)
    }
}
