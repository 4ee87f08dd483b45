// Architecture search: spaces from YAML with errors that name the line, candidates that build, strategies that are
// pure functions of (index, history, seed), the journal's resume rules, estimators, the Pareto front, and a small
// search end to end.
import ArchitectureSearch
import Datasets
import Foundation
import NeuralNetworks
import Tensors
import Testing

let tinySpaceYAML = """
    name: tiny
    kind: cnn
    stem_width: 4
    width_multipliers: [0.5, 1.0]
    blocks:
      - operations: [conv3x3, dwsep3x3, identity]
        widths: [4, 8]
        residual: [false, true]
        stride: 2
      - repeat: 2
        operations: [conv3x3, maxpool]
        widths: [8]
    """

/// 8×8 images of 3 classes told apart by a stripe pattern.
func stripes(_ count: Int, seed: UInt64) throws -> Dataset {
    var g = SeededGenerator(seed: seed)
    var x: [Float] = [], y: [Int32] = []
    for i in 0..<count {
        let label = i % 3
        for p in 0..<64 { x.append(p % 3 == label ? 1 : Float(g.nextInt(below: 30)) / 100) }
        y.append(Int32(label))
    }
    return try Dataset(inputs: Tensor(shape: [count, 1, 8, 8], scalars: x), labels: y, classCount: 3)
}

func trial(_ index: Int, _ choices: [Int], accuracy: Double, macs: Int = 100) -> Trial {
    Trial(index: index, candidate: Candidate(choices), architecture: "", accuracy: accuracy, macs: macs, parameters: 1,
          bytes: 4, latencyMs: nil, epochs: 1, trainSamples: 1, seed: 0, curve: nil, stopped: nil, reused: nil, worker: 0)
}

@Suite struct SearchSpaceTests {
    @Test func parsesYAMLWithRepeats() throws {
        let space = try SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")
        #expect(space.name == "tiny" && space.kind == .cnn && space.blocks.count == 3)
        #expect(space.blocks[1].stride == 1 && space.blocks[2].operations == [.conv3x3, .maxpool])
        #expect(space.decisions.count == 3 * 3 + 2)
        #expect(space.size == Double(3 * 2 * 2 * 2 * 2 * 1 * 2))
        // JSON is YAML too.
        let json = try SearchSpace.parse(#"{"kind": "mlp", "blocks": [{"operations": ["linear"], "widths": [8, 16]}]}"#,
                                         file: "s.json")
        #expect(json.kind == .mlp && json.blocks[0].widths == [8, 16])
    }

    @Test(arguments: [
        ("blocks:\n  - operations: [conv3x3\n    widths: [4]\n", "s.yaml: not valid YAML/JSON: line"),
        ("blocks:\n  - operations: [conv3x3]\n    widths: [4]\n    colour: red\n", "s.yaml:4: unknown key 'colour'"),
        ("blocks:\n  - operations: [conv3x3]\n    widths: [four]\n", "s.yaml:3: a width must be an integer"),
        ("blocks:\n  - operations: [conv7x7]\n    widths: [4]\n", "s.yaml:2: unknown operation 'conv7x7'"),
        ("name: x\nblocks: []\n", "s.yaml:2: 'blocks' is empty"),
        ("name: x\n", "has no 'blocks'"),
        ("", "s.yaml: the space is empty"),
        ("blocks:\n  - operations: []\n    widths: [4]\n", "s.yaml:2: an empty list"),
        ("kind: mlp\nblocks:\n  - operations: [conv3x3]\n    widths: [4]\n", "does not fit a mlp space"),
        ("width_multipliers: [0]\nblocks:\n  - operations: [identity]\n    widths: [4]\n", "s.yaml:1: each of 'width_multipliers'"),
    ])
    func badFilesNameTheLine(text: String, message: String) {
        let error = #expect(throws: ShrinkError.self) { _ = try SearchSpace.parse(text, file: "s.yaml") }
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func everyCandidateOfTheBuiltInSpacesBuilds() throws {
        var g = SeededGenerator(seed: 4)
        var macs: [Int] = []
        for _ in 0..<40 {
            let c = SearchSpace.mobileCNN.randomCandidate(&g)
            let graph = try SearchSpace.mobileCNN.graph(for: c, inputShape: [1, 28, 28], classes: 10, seed: 1)
            #expect(graph.outputShape == [10])
            macs.append(graph.cost().macs)
            #expect(!SearchSpace.mobileCNN.describe(c).isEmpty)
        }
        // The space spans both sides of the 1 M MAC constraint.
        #expect(macs.min()! < 1_000_000 && macs.max()! > 1_000_000)
        let mlp = SearchSpace.mlp.randomCandidate(&g)
        #expect(try SearchSpace.mlp.graph(for: mlp, inputShape: [1, 28, 28], classes: 10, seed: 1).outputShape == [10])
        #expect(throws: ShrinkError.self) {
            _ = try SearchSpace.mobileCNN.graph(for: Candidate([0]), inputShape: [1, 28, 28], classes: 10, seed: 1)
        }
        #expect(throws: ShrinkError.self) { _ = try SearchSpace.load("no-such-space") }
    }
}

@Suite struct StrategyTests {
    let space = try! SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")

    @Test func proposalsArePureFunctionsOfIndexHistoryAndSeed() throws {
        var g = SeededGenerator(seed: 1)
        var history: [Trial] = []
        for i in 0..<6 { history.append(trial(i, space.randomCandidate(&g).choices, accuracy: Double(i) / 10)) }
        let strategies: [any SearchStrategy] = [RandomSearch(), RegularizedEvolution(population: 4, sampleSize: 2),
                                                Reinforce(), BayesianOptimization(initial: 3, pool: 50)]
        for s in strategies {
            let a = try s.propose(index: 6, history: history, space: space, seed: 9) { _ in true }
            let b = try s.propose(index: 6, history: history, space: space, seed: 9) { _ in true }
            #expect(a == b, "\(s.name)")
            try space.check(a)
        }
    }

    @Test func evolutionMutatesOneDecisionOfTheTournamentWinner() throws {
        var g = SeededGenerator(seed: 2)
        let history = (0..<5).map { trial($0, space.randomCandidate(&g).choices, accuracy: $0 == 3 ? 0.9 : 0.1) }
        let evolution = RegularizedEvolution(population: 5, sampleSize: 5)
        let child = try evolution.propose(index: 5, history: history, space: space, seed: 1) { _ in true }
        let parent = history[3].candidate
        #expect(evolution.parent(index: 5, history: history, seed: 1)?.index == 3)
        #expect(zip(child.choices, parent.choices).filter { $0 != $1 }.count == 1)
    }

    @Test func reinforceLearnsTowardsRewardedChoices() {
        // Choice 0 of the first decision always scores high, choice 2 low.
        let history = (0..<30).map { i in
            trial(i, [i % 2 == 0 ? 0 : 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], accuracy: i % 2 == 0 ? 0.9 : 0.5)
        }
        let p = Reinforce().probabilities(after: history, space: space)
        #expect(p[0][0] > 0.6 && p[0][2] < 0.2, "\(p[0])")
    }

    @Test func gaussianProcessInterpolatesAndProposesUnseenCandidates() throws {
        var g = SeededGenerator(seed: 3)
        var seen = Set<Candidate>()
        var history: [Trial] = []
        while history.count < 8 {
            let c = space.randomCandidate(&g)
            if seen.insert(c).inserted { history.append(trial(history.count, c.choices, accuracy: 0.5 + 0.05 * Double(c.choices[0]))) }
        }
        let bo = BayesianOptimization(initial: 3, pool: 100, noise: 1e-6)
        let posterior = try bo.posterior(history, at: history.map(\.candidate), space: space)
        for (p, t) in zip(posterior, history) {
            #expect(abs(p.mean - t.accuracy) < 1e-3 && p.sd < 0.01, "\(p) vs \(t.accuracy) \(t.candidate)")
        }
        let next = try bo.propose(index: 8, history: history, space: space, seed: 0) { _ in true }
        #expect(!seen.contains(next))
    }

    @Test func infeasibleConstraintsAreAClearError() {
        let error = #expect(throws: ShrinkError.self) {
            _ = try RandomSearch().propose(index: 0, history: [], space: space, seed: 0) { _ in false }
        }
        #expect(error?.message.contains("satisfies the constraints") == true)
    }
}

@Suite struct JournalAndFrontTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "shrink-nas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func resumesFromCompleteLinesAndRefusesAnotherSearch() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(directory: dir)
        try journal.claim(settings: ["strategy": "random", "seed": "1"])
        try journal.claim(settings: ["strategy": "random", "seed": "1"])
        let error = #expect(throws: ShrinkError.self) { try journal.claim(settings: ["strategy": "evolution", "seed": "1"]) }
        #expect(error?.message.contains("strategy = random") == true)
        try journal.append(trial(0, [1], accuracy: 0.5), timing: TrialTiming(index: 0, cpuSeconds: 1, wallSeconds: 1))
        // A kill in the middle of a line leaves it without its newline: it is not read, and repair removes it.
        let handle = FileHandle(forWritingAtPath: dir + "/journal-0-of-1.jsonl")!
        handle.seekToEndOfFile()
        handle.write(Data(#"{"index": 1, "candid"#.utf8))
        handle.closeFile()
        #expect(try journal.trials().map(\.index) == [0])
        try journal.repair()
        try journal.append(trial(1, [0], accuracy: 0.6), timing: TrialTiming(index: 1, cpuSeconds: 1, wallSeconds: 1))
        #expect(try journal.trials().map(\.index) == [0, 1])
        #expect(try journal.timings().count == 2)
        #expect(throws: ShrinkError.self) { _ = try Journal(directory: dir, worker: 2, workers: 2) }
    }

    @Test func paretoFrontAndBest() {
        let trials = [trial(0, [0], accuracy: 0.8, macs: 100), trial(1, [1], accuracy: 0.85, macs: 300),
                      trial(2, [2], accuracy: 0.7, macs: 200), trial(3, [3], accuracy: 0.9, macs: 500),
                      trial(4, [4], accuracy: 0.85, macs: 250)]
        #expect(paretoFront(trials).map(\.index) == [0, 4, 3])
        #expect(bestTrial(trials)?.index == 3)
    }

    @Test func curveExtrapolationByHand() {
        // acc(t) = 1 − 0.5/t: 0.5, 0.75 → at t = 4, 0.875.
        #expect(abs(CurveExtrapolation.predict([0.5, 0.75], at: 4) - 0.875) < 1e-12)
        #expect(CurveExtrapolation.predict([0.6], at: 4) == 0.6)
    }
}

@Suite struct SearchRunTests {
    @Test func smallSearchEndToEndAndResume() throws {
        let data = try stripes(120, seed: 1)
        let train = data.rows(0..<90), validation = data.rows(90..<120)
        let space = try SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")
        var settings = SearchSettings()
        settings.trials = 5
        settings.seed = 3
        settings.constraints = SearchConstraints(maxMACs: 20_000)
        let dir = NSTemporaryDirectory() + "shrink-nas-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let estimator = LowFidelity(epochs: 8, subset: 1, batchSize: 16)
        // Three trials, then the same search asked for five: it continues where it stopped.
        settings.trials = 3
        _ = try runSearch(space: space, strategy: RegularizedEvolution(population: 2, sampleSize: 2), estimator: estimator,
                          train: train, validation: validation, settings: settings, journal: try Journal(directory: dir + "/a"))
        settings.trials = 5
        let resumed = try runSearch(space: space, strategy: RegularizedEvolution(population: 2, sampleSize: 2),
                                    estimator: estimator, train: train, validation: validation, settings: settings,
                                    journal: try Journal(directory: dir + "/a"))
        let straight = try runSearch(space: space, strategy: RegularizedEvolution(population: 2, sampleSize: 2),
                                     estimator: estimator, train: train, validation: validation, settings: settings,
                                     journal: try Journal(directory: dir + "/b"))
        #expect(resumed == straight && resumed.map(\.index) == [0, 1, 2, 3, 4])
        #expect(resumed.allSatisfy { $0.macs <= 20_000 && $0.accuracy >= 0 && $0.accuracy <= 1 })
        #expect(resumed.contains { $0.accuracy > 0.5 })
        // A constraint nothing satisfies.
        settings.constraints = SearchConstraints(maxMACs: 10)
        let error = #expect(throws: ShrinkError.self) {
            _ = try runSearch(space: space, strategy: RandomSearch(), estimator: estimator, train: train,
                              validation: validation, settings: settings, journal: try Journal(directory: dir + "/c"))
        }
        #expect(error?.message.contains("--max-macs") == true)
    }

    @Test func curveEstimatorStopsHopelessRuns() throws {
        let data = try stripes(120, seed: 2)
        let train = data.rows(0..<90), validation = data.rows(90..<120)
        let space = try SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")
        let candidate = Candidate([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        let estimator = CurveExtrapolation(epochs: 4, minimumEpochs: 1, margin: 0, subset: 1)
        // Nothing can beat a best-so-far of 100%: the run stops after the first epoch.
        let stopped = try estimator.estimate(candidate, context: EstimationContext(space: space, train: train,
                                                                                  validation: validation, bestSoFar: 1.01),
                                             seed: 1)
        #expect(stopped.stopped == true && stopped.curve?.count == 1 && stopped.epochs == 1)
        let full = try estimator.estimate(candidate, context: EstimationContext(space: space, train: train,
                                                                               validation: validation), seed: 1)
        #expect(full.stopped == false && full.curve?.count == 4 && full.trainSamples == 4 * 90)
    }
}
