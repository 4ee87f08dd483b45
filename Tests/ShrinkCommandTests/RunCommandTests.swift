// `shrink run` as a user runs it: every recipe in recipes/ on a small data set with --fast, its report (JSON that
// parses, SVG charts with labels, the Markdown table); a rerun that skips every step; a run killed with SIGKILL in
// the middle of a fine-tuning step that, run again, ends with a byte-identical final model; and recipes that are
// wrong in the ways the issue names, each an error naming the line.
import Datasets
import Foundation
import Tensors
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// 8×8 images of 3 classes, 300 to train on and 60 to test.
func writeRecipeData(to path: String) throws {
    try writeSmallImageNPZ(to: path, train: 300, test: 60, seed: 12)
}

@Suite(.serialized) struct RunCommandTests {
    @Test(arguments: ["demo", "prune-then-quantize", "distill-then-quantize", "search-then-quantize"])
    func everyRecipeRunsAndReports(recipe: String) throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", out = dir + "/out"
        try writeRecipeData(to: data)
        let r = try shrink(["run", "\(repositoryRoot)/recipes/\(recipe).yaml", "--out", out, "--data", data, "--fast",
                            "--threads", "1", "--json"])
        #expect(r.status == 0, "\(recipe): \(r.stderr)")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any]
        let rows = document?["models"] as? [[String: Any]]
        #expect((document?["steps"] as? [[String: Any]])?.isEmpty == false)
        #expect((rows?.count ?? 0) >= 2)
        for row in rows ?? [] {
            #expect((row["accuracy"] as? Double).map { (0...1).contains($0) } == true)
            #expect((row["bytes"] as? Int ?? 0) > 0 && row["compression"] as? Double != nil)
        }
        #expect((rows?.first?["compression"] as? Double) == 1)
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(md.contains("| model | top-1 | top-5 | parameters | MACs | bytes |") && md.contains("## Steps"))
        for chart in ["accuracy-bytes", "accuracy-latency"] {
            let svg = try String(contentsOfFile: out + "/\(chart).svg", encoding: .utf8)
            #expect(XMLParser(data: Data(svg.utf8)).parse(), "\(chart).svg is not well-formed")
            #expect(svg.contains("test accuracy (%)") && (svg.contains("file size (KB)") || svg.contains("batch-1 latency (ms)")))
        }
    }

    let twoSteps = """
        data: DATA
        steps:
          - train: {arch: fmnist-small, epochs: 2, batch_size: 16, name: dense}
          - prune: {structure: unstructured, sparsity: 0.8, schedule: iterative, rounds: 3, finetune_epochs: 12, batch_size: 8, validation_samples: 50, name: pruned}
          - quantize: {name: int8}
        report: {bench_seconds: 0}
        """

    @Test func aRerunSkipsFinishedStepsAndAKilledRunEndsTheSame() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", recipe = dir + "/recipe.yaml"
        try writeRecipeData(to: data)
        try twoSteps.replacingOccurrences(of: "DATA", with: data).write(toFile: recipe, atomically: true, encoding: .utf8)
        let straight = try shrink(["run", recipe, "--out", dir + "/straight", "--threads", "1"])
        #expect(straight.status == 0, "\(straight.stderr)")
        let again = try shrink(["run", recipe, "--out", dir + "/straight", "--threads", "1"])
        #expect(again.status == 0 && again.stderr.components(separatedBy: "done before, skipped").count - 1 == 3)
        // Kill the run while the pruning step fine-tunes (the journal then holds the training step only).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shrinkBinary())
        process.arguments = ["run", recipe, "--out", dir + "/killed", "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let journal = dir + "/killed/journal.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning {
            if ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").count >= 1 { break }
            usleep(10_000)
        }
        usleep(200_000)
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(wasRunning, "the run finished before it could be killed")
        let recorded = ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").count
        #expect(recorded < 3)
        let resumed = try shrink(["run", recipe, "--out", dir + "/killed", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/straight/models/int8.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/killed/models/int8.safetensors"))
        #expect(a == b && !a.isEmpty)
    }

    @Test(arguments: [
        ("data: X\nsteps:\n  - train: {arch: mlp, epochs: 1}\n  - prune: {sparsity: 0.5, colour: red}\n", "recipe.yaml:4: unknown option 'colour'; the options are: batch_size,"),
        ("data: X\nsteps:\n  - train: {arch: mlp, epochs: 1}\n  - prune: {sparsity: lots}\n", "recipe.yaml:4: 'sparsity' must be a number, got 'lots'"),
        ("data: X\nsteps:\n  - train: {arch: mlp}\n  - shrinkify: {}\n", "recipe.yaml:4: unknown pass 'shrinkify'"),
        ("data: X\nsteps:\n  - train: {arch: mlp}\n  - quantize: {}\n  - prune: {sparsity: 0.5}\n",
         "recipe.yaml:5: 'prune' needs a float model, but step '2-quantize' (line 4) quantized it"),
        ("data: X\nsteps:\n  - prune: {sparsity: 0.5}\n", "recipe.yaml:3: 'prune' needs a model"),
        ("data: X\nmodel: m.safetensors\nsteps:\n  - train: {arch: mlp}\n", "recipe.yaml:4: 'train' trains a new model"),
        ("data: X\nsteps:\n  - train: {arch: mlp, name: a}\n  - prune: {from: b, sparsity: 0.5}\n", "recipe.yaml:4: 'from' must name"),
        ("data: X\ncolour: red\nsteps:\n  - train: {arch: mlp}\n", "recipe.yaml:2: unknown key 'colour'"),
        ("data: X\nsteps:\n  - train: {arch: mlp, epochs: [1, 2}\n", "recipe.yaml: not valid YAML: line 3"),
    ])
    func badRecipesNameTheLine(text: String, message: String) throws {
        let dir = try temporaryDirectory()
        let recipe = dir + "/recipe.yaml"
        try text.write(toFile: recipe, atomically: true, encoding: .utf8)
        let r = try shrink(["run", recipe, "--out", dir + "/out"])
        #expect(r.status == 1 && r.stderr.contains(message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/journal.jsonl"))
    }
}

/// A Fashion-MNIST-shaped IDX directory (28×28 grey, 10 classes) of `train` and `test` images, for SHRINK_DATA_DIR.
func writeTinyFashionMNIST(to directory: String, train: Int = 150, test: Int = 30) throws {
    var g = SeededGenerator(seed: 5)
    func files(_ n: Int, images: String, labels: String) throws {
        var pixels: [UInt8] = [], classes: [UInt8] = []
        for i in 0..<n {
            let label = i % 10
            for p in 0..<784 { pixels.append(UInt8(p % 10 == label ? 220 : Int(g.nextInt(below: 80)))) }
            classes.append(UInt8(label))
        }
        _ = FileManager.default.createFile(atPath: "\(directory)/\(images)",
                                           contents: Data(IDX.encode(dimensions: [n, 28, 28], bytes: pixels)))
        _ = FileManager.default.createFile(atPath: "\(directory)/\(labels)",
                                           contents: Data(IDX.encode(dimensions: [n], bytes: classes)))
    }
    try files(train, images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte")
    try files(test, images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte")
}

@Suite(.serialized) struct DemoResumeTests {
    /// The README's two demo commands in one directory: the full recipe after the quick demo runs the steps whose
    /// settings or data differ again, from clean state (the search's journal belonged to the quick demo's data).
    @Test func theFullRecipeAfterTheQuickDemoInTheSameDirectory() throws {
        let dir = try temporaryDirectory(), data = dir + "/fashion-mnist", out = dir + "/demo"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try writeTinyFashionMNIST(to: data)
        let environment = ["SHRINK_DATA_DIR": data]
        func searchStates() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: out + "/steps").filter { $0.hasPrefix("searched-search-") }
        }
        // Every step of the demo recipe twice: the release build when it is current (Scripts/test.sh builds it first).
        let binary = optimizedShrinkBinary()
        let quick = try shrink(["demo", "--quick", "--out", out, "--threads", "1"], environment: environment, binary: binary)
        #expect(quick.status == 0, "\(quick.stderr)")
        let quickState = try searchStates()
        #expect(quickState.count == 1, "\(quickState)")
        let full = try shrink(["run", "\(repositoryRoot)/recipes/demo.yaml", "--out", out, "--fast", "--threads", "1"],
                              environment: environment, binary: binary)
        #expect(full.status == 0, "\(full.stderr)")
        let fullState = try searchStates()
        #expect(fullState.count == 1 && fullState != quickState, "\(quickState) then \(fullState)")
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(report.contains("searched"))
        // The default directories of the two demos differ.
        let help = try shrink(["demo", "--help"])
        #expect(help.stdout.contains("out/demo-quick"), "\(help.stdout)")
    }
}

@Suite struct DemoAndCompareTests {
    @Test func theEmbeddedDemoRecipeIsRecipesDemoYaml() throws {
        let file = try String(contentsOfFile: "\(repositoryRoot)/recipes/demo.yaml", encoding: .utf8)
        let r = try shrink(["demo", "--help"])
        #expect(r.status == 0)
        #expect(file.contains("name: dense") && file.contains("from: dense"))
        // The embedded copy is the library's DemoRecipe.recipe (ShrinkTests checks the two are the same text).
    }

    @Test func benchCompareDrawsTheReportTable() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", a = dir + "/a.safetensors", b = dir + "/b.safetensors"
        try writeRecipeData(to: data)
        #expect(try shrink(["train", "--arch", "fmnist-small", "--data", data, "--epochs", "1", "--out", a]).status == 0)
        #expect(try shrink(["quantize", a, "--data", data, "--out", b]).status == 0)
        let r = try shrink(["bench", "--compare", a, b, "--data", data, "--seconds", "0.05", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 2 && (rows?[1]["compression"] as? Double ?? 0) > 1.2)   // a tiny model: the metadata is a good part of its file
        let missing = try shrink(["bench", "--compare", a, b])
        #expect(missing.status != 0 && missing.stderr.contains("--compare needs --data"))
    }
}
