// `shrink search` as a user runs it: a small search with its outputs, a search killed with SIGKILL and run again
// ending with the same journal as one never interrupted, two worker processes on one journal then a merge, and the
// bad inputs the issue names (a malformed space file, an empty space, a constraint nothing satisfies).
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

let tinySpace = """
    name: tiny
    kind: cnn
    stem_width: 4
    width_multipliers: [0.5, 1.0]
    blocks:
      - operations: [conv3x3, dwsep3x3, identity]
        widths: [4, 8]
        residual: [false, true]
        stride: 2
      - operations: [conv3x3, maxpool]
        widths: [8]
    """

@Suite(.serialized) struct SearchCommandTests {
    func searchArguments(_ data: String, _ space: String, _ out: String, trials: Int = 6) -> [String] {
        ["search", "--space", space, "--data", data, "--out", out, "--strategy", "evolution", "--population", "3",
         "--estimator", "low-fidelity", "--subset", "1", "--epochs", "2", "--trials", "\(trials)",
         "--validation-samples", "30", "--final-epochs", "1", "--seed", "5", "--threads", "1"]
    }

    @Test func searchesWritesTheFrontAndTheBestModel() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", space = dir + "/tiny.yaml", out = dir + "/out"
        try writeSmallImageNPZ(to: data)
        try tinySpace.write(toFile: space, atomically: true, encoding: .utf8)
        let r = try shrink(searchArguments(data, space, out) + ["--max-macs", "20000", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(report?["trials"] as? Int == 6 && (report?["front"] as? [Any])?.isEmpty == false)
        #expect((report?["best"] as? [String: Any])?["macs"] as? Int ?? .max <= 20_000)
        #expect(report?["final_test_accuracy"] as? Double != nil)
        // The files: the model runs in eval; the chart parses as XML and has its labels.
        let eval = try shrink(["eval", out + "/best.safetensors", "--data", data, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let svg = try String(contentsOfFile: out + "/front.svg", encoding: .utf8)
        #expect(svg.contains("MACs per sample") && svg.contains("validation accuracy (%)"))
        #expect(XMLParser(data: Data(svg.utf8)).parse(), "front.svg is not well-formed XML")
        let front = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/front.json")))
        #expect((front as? [Any])?.isEmpty == false)
        // The same directory with other options is another search: refused, the journal kept.
        let other = try shrink(searchArguments(data, space, out) + ["--max-macs", "20000", "--seed", "6"])
        expectFailure(other, mentioning: "belongs to a search with seed = 5")
    }

    @Test func aKilledSearchResumesToTheSameJournal() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", space = dir + "/tiny.yaml"
        try writeSmallImageNPZ(to: data)
        try tinySpace.write(toFile: space, atomically: true, encoding: .utf8)
        let straight = try shrink(searchArguments(data, space, dir + "/straight", trials: 8))
        #expect(straight.status == 0, "\(straight.stderr)")
        // Start the same search elsewhere and kill it with SIGKILL once it has recorded two trials.
        let killed = dir + "/killed", journal = killed + "/journal/journal-0-of-1.jsonl"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shrinkBinary())
        process.arguments = searchArguments(data, space, killed, trials: 8)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let lines = (try? String(contentsOfFile: journal, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 2 || !process.isRunning { break }
            usleep(20_000)
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(wasRunning, "the search finished before it could be killed")
        let partial = (try? String(contentsOfFile: journal, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(partial < 8)
        let resumed = try shrink(searchArguments(data, space, killed, trials: 8))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try String(contentsOfFile: dir + "/straight/journal/journal-0-of-1.jsonl", encoding: .utf8)
        let b = try String(contentsOfFile: journal, encoding: .utf8)
        #expect(a == b && a.split(separator: "\n").count == 8)
    }

    @Test func twoWorkersShareAJournalAndMerge() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", space = dir + "/tiny.yaml", journal = dir + "/journal"
        try writeSmallImageNPZ(to: data)
        try tinySpace.write(toFile: space, atomically: true, encoding: .utf8)
        let arguments = ["search", "--space", space, "--data", data, "--strategy", "random", "--estimator", "low-fidelity",
                         "--subset", "1", "--epochs", "1", "--trials", "6", "--validation-samples", "30", "--seed", "2",
                         "--threads", "1", "--journal", journal]
        var processes: [Process] = []
        for i in 0..<2 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: shrinkBinary())
            p.arguments = arguments + ["--worker", "\(i)/2", "--out", dir + "/worker\(i)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
        for p in processes {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        for i in 0..<2 {
            let lines = try String(contentsOfFile: journal + "/journal-\(i)-of-2.jsonl", encoding: .utf8)
                .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.map { $0["index"] as? Int } == [i, i + 2, i + 4])
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/worker0/best.safetensors"))
        let merged = try shrink(arguments + ["--worker", "0/2", "--merge", "--final-epochs", "1", "--out", dir + "/merged", "--json"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(merged.stdout.utf8)) as? [String: Any]
        #expect(report?["trials"] as? Int == 6)
        #expect(FileManager.default.fileExists(atPath: dir + "/merged/best.safetensors"))
    }

    @Test func dartsAndWeightSharingRunFromTheCommandLine() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz", space = dir + "/tiny.yaml"
        try writeSmallImageNPZ(to: data)
        try tinySpace.write(toFile: space, atomically: true, encoding: .utf8)
        for (strategy, estimator) in [("darts", "low-fidelity"), ("random", "weight-sharing")] {
            let r = try shrink(["search", "--space", space, "--data", data, "--out", dir + "/\(strategy)-\(estimator)",
                                "--strategy", strategy, "--estimator", estimator, "--trials", "3", "--subset", "1",
                                "--darts-subset", "1", "--validation-samples", "30", "--final-epochs", "0", "--json"])
            #expect(r.status == 0, "\(strategy), \(estimator): \(r.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(report?["strategy"] as? String == strategy && report?["estimator"] as? String == estimator)
            #expect(report?["trials"] as? Int == 3)
        }
    }

    @Test func badInputIsAClearError() throws {
        let dir = try temporaryDirectory()
        let data = dir + "/small.npz"
        try writeSmallImageNPZ(to: data)
        for (text, message) in [("blocks:\n  - operations: [conv3x3\n", "not valid YAML/JSON: line"),
                                ("", "the space is empty"),
                                ("blocks:\n  - operations: [conv3x3]\n    widths: [4]\n    colour: red\n", ":4: unknown key 'colour'")] {
            let space = dir + "/space-\(message.count).yaml"
            try text.write(toFile: space, atomically: true, encoding: .utf8)
            expectFailure(try shrink(["search", "--space", space, "--data", data, "--out", dir + "/o", "--validation-samples", "30"]),
                          mentioning: message)
        }
        let space = dir + "/tiny.yaml"
        try tinySpace.write(toFile: space, atomically: true, encoding: .utf8)
        expectFailure(try shrink(["search", "--space", space, "--data", data, "--out", dir + "/o2", "--validation-samples", "30",
                                  "--max-macs", "10"]), mentioning: "satisfies the constraints")
        expectFailure(try shrink(["search", "--space", "nothing", "--data", data, "--out", dir + "/o3"]),
                      mentioning: "neither a built-in space")
        let unknown = try shrink(["search", "--space", space, "--data", data, "--out", dir + "/o4", "--strategy", "grid"])
        #expect(unknown.status != 0 && unknown.stderr.contains("The value 'grid' is invalid for '--strategy"))
    }
}
