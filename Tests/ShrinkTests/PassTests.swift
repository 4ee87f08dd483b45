// The pass shape, the model value and recipes in-process, on a small synthetic data set.
import Foundation
import Shrink
import Testing

/// Two separable classes in 4 dimensions: `count` training and `count / 2` test samples.
func blobs(count: Int = 240, seed: UInt64 = 1) throws -> DataSplit {
    var generator = SeededGenerator(seed: seed)
    func make(_ n: Int) throws -> Dataset {
        var x: [Float] = [], y: [Int32] = []
        for i in 0..<n {
            let label = i % 2
            x.append(contentsOf: (0..<4).map { d in generator.nextNormal() * 0.3 + (d == label ? 1.5 : 0) })
            y.append(Int32(label))
        }
        return try Dataset(inputs: Tensor(shape: [n, 4], scalars: x), labels: y, classCount: 2)
    }
    return DataSplit(train: try make(count), test: try make(count / 2), name: "blobs")
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "shrink-pass-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A trained mlp on the blobs.
func trainedModel(_ data: DataSplit) throws -> ShrinkModel {
    var train = TrainPass(arch: .mlp)
    train.epochs = 2
    train.batchSize = 32
    return try train.run(nil, data: data).model
}

@Suite struct PassTests {
    @Test func trainReportsItsFiguresAndTheModelValueRoundTrips() throws {
        let data = try blobs()
        var train = TrainPass(arch: .mlp)
        train.epochs = 2
        train.batchSize = 32
        var events = 0
        let result = try train.run(nil, data: data) { _ in events += 1 }
        #expect(events > 0)
        #expect(result.report.pass == "train" && result.report.before == nil)
        let after = try #require(result.report.after)
        #expect(after.parameters == 34_434 && after.bytes == result.model.bytes.count)
        #expect((after.testAccuracy ?? 0) > 0.9)
        #expect(result.model.engine == .float)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try result.model.save(to: "\(directory)/m.safetensors")
        let loaded = try ShrinkModel.load(from: "\(directory)/m.safetensors")
        #expect(loaded.bytes == result.model.bytes)
        let prepared = try loaded.prepare(data.test)
        #expect(try loaded.predict(prepared.inputs) == result.model.predict(prepared.inputs))
        #expect(try loaded.evaluate(on: data.test).top1 == after.testAccuracy)
    }

    @Test func pruningNeverMutatesItsInputAndCountsNonzeros() throws {
        let data = try blobs()
        let dense = try trainedModel(data)
        let before = dense.bytes
        var settings = PruningSettings(sparsity: 0.75)
        settings.finetuneEpochs = 1
        settings.batchSize = 32
        var pass = PrunePass(settings: settings)
        pass.validationSamples = 40
        let result = try pass.run(dense, data: data)
        #expect(dense.bytes == before)
        #expect(try ShrinkModel(bytes: before).float.graph.parameters.map(\.parameter.value)
            == dense.float.graph.parameters.map(\.parameter.value))
        let denseWeights = prunableWeights(dense.float.graph).reduce(0) { $0 + $1.parameter.value.count }
        let after = try #require(result.report.after), original = try #require(result.report.before)
        #expect(original.nonzeroParameters == original.parameters)
        // Global unstructured pruning removes 75% of the conv/linear weights (rounded per the mask).
        let removed = original.nonzeroParameters - after.nonzeroParameters
        #expect(abs(Double(removed) - 0.75 * Double(denseWeights)) <= 1)
        #expect(after.validationAccuracy != nil && after.bytes == result.model.bytes.count)
        #expect(after.bytes < original.bytes)  // stored sparse
    }

    @Test func quantizationCalibratesAndValidatesOnTheTrainingSplit() throws {
        let data = try blobs()
        let split = CalibrationSplit(calibrationSamples: 50, validationSamples: 30)
        let (calibration, validation) = try split.parts(of: data.train)
        #expect(calibration.count == 50 && validation.count == 30)
        #expect(try calibration.inputs == data.train.prefix(50).inputs)
        #expect(try validation.inputs == data.train.rows(50..<80).inputs)
        // A small split is shared half and half.
        let small = try split.parts(of: data.train.prefix(20))
        #expect(small.calibration.count == 10 && small.validation.count == 10)
        #expect(throws: ShrinkError.self) { try split.parts(of: data.train.prefix(1)) }

        var pass = QuantizePass()
        pass.split = split
        pass.observers = [.minmax]
        let float = try trainedModel(data)
        let result = try pass.run(float, data: data)
        #expect(result.model.engine == .integer)
        let details = try #require(result.report.details(as: QuantizePass.Details.self))
        #expect(details.attempts.count >= 1 && details.mode == "integer")
        #expect(result.report.after?.bytes == result.model.bytes.count)
        #expect(result.report.before?.bytes == float.bytes.count)
        // A quantized model is refused by a pass that needs a float model, with the advice.
        let refused = #expect(throws: ShrinkError.self) { try pass.run(result.model, data: data) }
        #expect(refused?.message.contains("already quantized (integer)") == true)
        var weightOnly = QuantizePass()
        weightOnly.weightOnly = true
        weightOnly.weightBits = 4
        #expect(try weightOnly.run(float, data: data).model.engine == .weightOnly)
    }

    @Test func settingsValidateInOnePlace() throws {
        var quantize = QuantizePass()
        quantize.weightBits = 9
        let bits = #expect(throws: ShrinkError.self) { try quantize.validate() }
        #expect(bits?.message == "weight_bits must be in 2…8, got 9")
        var train = TrainPass(arch: .mlp)
        train.epochs = 0
        #expect(throws: ShrinkError.self) { try train.run(nil, data: try blobs()) }
        // The fixes' recipe keys, and what they cannot be combined with.
        var fixes = PassOptions(["equalization": "on", "bias_correction": "analytic", "rounding": "gptq",
                                 "adaround_iterations": "50", "edge_range": "input=-1:3,relu1=0:6", "report": "true"])
        let fixed = try QuantizePass.make(fixes)
        #expect(fixed.equalization == true && fixed.biasCorrection == .analytic && fixed.rounding == .gptq)
        #expect(fixed.adaRoundIterations == 50 && fixed.report && fixed.edgeRanges == ["input": -1...3, "relu1": 0...6])
        fixes = PassOptions(["equalization": "auto", "rounding": "auto"])
        let automatic = try QuantizePass.make(fixes)
        #expect(automatic.equalization == nil && automatic.rounding == nil && automatic.biasCorrection == nil)
        #expect(throws: ShrinkError.self) { try QuantizePass.make(PassOptions(["edge_range": "relu1=6:0"])) }
        var mixed = QuantizePass()
        mixed.mixedPrecision = true
        mixed.sizeBudget = 1000
        mixed.rounding = .gptq
        let refusedMix = #expect(throws: ShrinkError.self) { try mixed.validate() }
        #expect(refusedMix?.message.contains("do not apply") == true)
        // Bias correction asked off is no fix; asked on, it is refused like the others.
        mixed.rounding = .nearest
        mixed.biasCorrection = BiasCorrection.none
        try mixed.validate()
        mixed.biasCorrection = .empirical
        #expect(throws: ShrinkError.self) { try mixed.validate() }
        var gradual = PruningSettings(sparsity: 0.5)
        gradual.schedule = .gradual
        gradual.reestimateBatchNorm = true
        var gradualPass = PrunePass(settings: gradual)
        gradualPass.validationSamples = 10
        let refusedGradual = #expect(throws: ShrinkError.self) { try gradualPass.validate() }
        #expect(refusedGradual?.message.contains("gradual") == true)
        var options = PassOptions(["sparsity": "0.5", "colour": "red"])
        options.location = "r.yaml:3"
        let unknown = #expect(throws: ShrinkError.self) { try PrunePass.make(options) }
        #expect(unknown?.message.hasPrefix("r.yaml:3: unknown option 'colour'; the options are:") == true)
    }

    @Test func fastCapsTheCostlySettings() throws {
        var search = SearchPass(journal: "j")
        search.trials = 20
        search.population = 8
        let capped = search.fast()
        #expect(capped.trials == 2 && capped.finalEpochs == 1 && capped.validationSamples == 100)
        #expect(capped.population == 2 && capped.sampleSize == 2 && capped.epochs == nil)
        var prune = PrunePass(settings: PruningSettings(sparsity: 0.5))
        prune.settings.rounds = 3
        prune.settings.finetuneEpochs = 4
        #expect(prune.fast().settings.rounds == 3 && prune.fast().settings.finetuneEpochs == 1)  // one-shot
        prune.settings.schedule = .iterative
        #expect(prune.fast().settings.rounds == 1)
    }

    @Test func aRecipeBuiltInSwiftRunsInProcessAndResumes() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = try blobs()
        let npz = "\(directory)/blobs.npz"
        try NPZ.write([("x_train", NPYArray(float32: data.train.inputs.scalars, shape: data.train.inputs.shape)),
                       ("y_train", NPYArray(int64: data.train.labels.map(Int64.init), shape: [data.train.count])),
                       ("x_test", NPYArray(float32: data.test.inputs.scalars, shape: data.test.inputs.shape)),
                       ("y_test", NPYArray(int64: data.test.labels.map(Int64.init), shape: [data.test.count]))],
                      to: npz, compressed: false)
        var train = TrainPass(arch: .mlp)
        train.epochs = 1
        train.batchSize = 32
        var prune = PrunePass(settings: PruningSettings(sparsity: 0.5))
        prune.validationSamples = 40
        var quantize = QuantizePass()
        quantize.observers = [.minmax]
        quantize.split = CalibrationSplit(calibrationSamples: 60, validationSamples: 60)
        let recipe = try Recipe(data: npz, steps: [
            RecipeStep("dense", train), RecipeStep("pruned", prune), RecipeStep("int8", quantize, from: "dense"),
        ], benchSeconds: 0)
        var messages: [String] = []
        let first = try RecipeRunner(recipe, directory: "\(directory)/out").run { messages.append($0.message) }
        #expect(first.models.map(\.step) == ["dense", "pruned", "int8"])
        #expect(first.report.rows.count == 3 && first.report.rows[2].bytes < first.report.rows[0].bytes)
        let final = try readFile("\(directory)/out/models/int8.safetensors")
        #expect(try ShrinkModel(bytes: final).engine == .integer)
        // The quantized step's input was the dense model: its provenance has no prune step.
        #expect(try ShrinkModel(bytes: final).provenance.map(\.pass) == ["train", "quantize"])
        messages.removeAll()
        let second = try RecipeRunner(recipe, directory: "\(directory)/out").run { messages.append($0.message) }
        #expect(messages.filter { $0.hasSuffix("done before, skipped") }.count == 3)
        #expect(try readFile("\(directory)/out/models/int8.safetensors") == final)
        #expect(second.report.rows.map(\.bytes) == first.report.rows.map(\.bytes))
        for name in ["report.md", "report.json", "accuracy-bytes.svg", "journal.jsonl", "steps/pruned.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/out/\(name)"), "\(name)")
        }
        // A quantized model cannot be pruned: refused before anything runs.
        let order = #expect(throws: ShrinkError.self) {
            try Recipe(data: npz, steps: [RecipeStep("dense", train), RecipeStep("q", quantize), RecipeStep("p", prune)])
        }
        #expect(order?.message.contains("'prune' needs a float model, but step 'q' quantized it") == true)
    }

    @Test func aParsedRecipeNamesTheLineOfABadOption() throws {
        let text = "data: x.npz\nsteps:\n  - train: {arch: mlp}\n  - prune: {sparsity: 0.5, rounds: many}\n"
        let type = #expect(throws: ShrinkError.self) { try Recipe.parse(text, file: "r.yaml") }
        #expect(type?.message == "r.yaml:4: 'rounds' must be an integer, got 'many'")
        let invalid = "data: x.npz\nsteps:\n  - train: {arch: mlp}\n  - prune: {sparsity: 1.5}\n"
        let range = #expect(throws: ShrinkError.self) { try Recipe.parse(invalid, file: "r.yaml") }
        #expect(range?.message.hasPrefix("r.yaml:4: prune: ") == true, "\(String(describing: range))")
        let parsed = try Recipe.parse("data: x.npz\nsteps:\n  - train: {arch: mlp, epochs: 7}\n  - quantize:\n",
                                      file: "r.yaml")
        #expect((parsed.steps[0].pass as? TrainPass)?.epochs == 7)
        #expect(parsed.steps.map(\.kind) == [.train, .quantize] && parsed.steps[1].line == 4)
    }

    @Test func theEmbeddedDemoRecipeIsRecipesDemoYaml() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let file = try String(contentsOfFile: "\(root)/recipes/demo.yaml", encoding: .utf8)
        #expect(DemoRecipe.recipe + "\n" == file)
        let recipe = try Recipe.parse(DemoRecipe.recipe, file: "demo.yaml")
        #expect(recipe.steps.map(\.name) == ["dense", "sparse-90", "filter-50", "int8", "qat-w4a4", "binarized", "student",
                                             "student-int8", "searched"])
    }

    @Test func aStudentModelEntersTheSettingsByItsBytesFingerprint() throws {
        let data = try blobs()
        let a = try trainedModel(data)
        var other = TrainPass(arch: .mlp)
        other.epochs = 1
        other.batchSize = 32
        other.seed = 7
        let b = try other.run(nil, data: data).model
        let first = describe(DistillPass(student: .model(a))), second = describe(DistillPass(student: .model(b)))
        #expect(first.contains(fnv1a(a.bytes)) && second.contains(fnv1a(b.bytes)))
        #expect(first != second && !first.contains("\(a.bytes.prefix(8))"))
        #expect(describe(DistillPass(student: .model(a))) == first)
    }
}
