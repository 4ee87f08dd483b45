// Every long command killed with SIGKILL at a random point (a seeded draw over the length of an uninterrupted run;
// SHRINK_KILL_SEED picks another) and run again: no half-written output is ever left, and the second run ends with the
// bytes of an uninterrupted one — resuming from its checkpoint (train --checkpoint) or journal (search, run), or
// starting over (prune, qat, distill, whose output is written once at the end).
import Datasets
import Foundation
import Tensors
import Testing

@Suite(.serialized) struct KillTests {
    /// One command of the table: its arguments for an output path, and the file compared.
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var arguments: @Sendable (_ dir: String, _ out: String) -> [String]
        /// The file of `out` compared between runs (`out` itself when empty).
        var result = ""
        /// Whether `out` is a directory the command fills (search, run) rather than one file.
        var directory = false
        var description: String { name }
    }

    static let seed: UInt64 = ProcessInfo.processInfo.environment["SHRINK_KILL_SEED"].flatMap { UInt64($0) } ?? 19

    static let space = """
        name: tiny
        kind: cnn
        stem_width: 4
        blocks:
          - operations: [conv3x3, dwsep3x3]
            widths: [4, 8]
            stride: 2
          - operations: [conv3x3, identity]
            widths: [8]
        """

    static let recipe = """
        data: DATA
        steps:
          - train: {arch: fmnist-small, epochs: 2, batch_size: 16, name: dense}
          - prune: {structure: unstructured, sparsity: 0.8, schedule: iterative, rounds: 2, finetune_epochs: 2, batch_size: 16, validation_samples: 50, name: pruned}
          - quantize: {name: int8}
        report: {bench_seconds: 0}
        """

    static let cases: [Case] = [
        Case(name: "train --checkpoint") { dir, out in
            ["train", "--arch", "fmnist-small", "--data", dir + "/data.npz", "--epochs", "10", "--batch-size", "16",
             "--threads", "1", "--out", out, "--checkpoint", dir + "/checkpoints"]
        },
        Case(name: "train --checkpoint, adam") { dir, out in
            ["train", "--arch", "fmnist-small", "--data", dir + "/data.npz", "--epochs", "8", "--batch-size", "32",
             "--optimizer", "adam", "--threads", "1", "--out", out, "--checkpoint", dir + "/checkpoints"]
        },
        Case(name: "prune iterative") { dir, out in
            ["prune", dir + "/base.safetensors", "--data", dir + "/data.npz", "--sparsity", "0.8", "--schedule", "iterative",
             "--rounds", "3", "--finetune-epochs", "2", "--batch-size", "16", "--validation-samples", "60",
             "--threads", "1", "--out", out]
        },
        Case(name: "prune gradual") { dir, out in
            ["prune", dir + "/base.safetensors", "--data", dir + "/data.npz", "--sparsity", "0.8", "--schedule", "gradual",
             "--rounds", "6", "--finetune-epochs", "3", "--batch-size", "16", "--validation-samples", "60",
             "--threads", "1", "--out", out]
        },
        Case(name: "qat") { dir, out in
            ["qat", dir + "/base.safetensors", "--data", dir + "/data.npz", "--weight-bits", "4", "--activation-bits", "8",
             "--epochs", "3", "--batch-size", "16", "--threads", "1", "--out", out]
        },
        Case(name: "distill with seeds") { dir, out in
            ["distill", "--teacher", dir + "/base.safetensors", "--arch", "fmnist-small", "--data", dir + "/data.npz",
             "--epochs", "2", "--seeds", "2", "--batch-size", "16", "--threads", "1", "--out", out]
        },
        Case(name: "search", arguments: { dir, out in
            ["search", "--space", dir + "/tiny.yaml", "--data", dir + "/data.npz", "--out", out, "--strategy", "evolution",
             "--population", "3", "--estimator", "low-fidelity", "--subset", "0.5", "--epochs", "1", "--trials", "8",
             "--validation-samples", "60", "--final-epochs", "1", "--seed", "5", "--threads", "1"]
        }, result: "journal/journal-0-of-1.jsonl", directory: true),
        Case(name: "run", arguments: { dir, out in
            ["run", dir + "/recipe.yaml", "--out", out, "--threads", "1"]
        }, result: "models/int8.safetensors", directory: true),
    ]

    /// The data (600 training images of 8×8, 3 classes), a base model, the space and the recipe, made once.
    static let fixtures: String = {
        let dir = (try? temporaryDirectory()) ?? NSTemporaryDirectory()
        try? writeSmallImageNPZ(to: dir + "/data.npz", train: 600, test: 60, seed: 3)
        _ = try? shrink(["train", "--arch", "fmnist-small", "--data", dir + "/data.npz", "--epochs", "1", "--batch-size",
                         "32", "--threads", "1", "--out", dir + "/base.safetensors"])
        try? space.write(toFile: dir + "/tiny.yaml", atomically: true, encoding: .utf8)
        try? recipe.replacingOccurrences(of: "DATA", with: dir + "/data.npz")
            .write(toFile: dir + "/recipe.yaml", atomically: true, encoding: .utf8)
        return dir
    }()

    @Test(.serialized, arguments: cases)
    func killedAtARandomPointAndRunAgain(_ command: Case) throws {
        let dir = Self.fixtures
        #expect(FileManager.default.fileExists(atPath: dir + "/base.safetensors"), "the base model was not trained")
        let work = try temporaryDirectory()
        try? FileManager.default.copyItem(atPath: dir + "/data.npz", toPath: work + "/data.npz")
        for name in ["base.safetensors", "tiny.yaml", "recipe.yaml"] {
            try FileManager.default.copyItem(atPath: dir + "/" + name, toPath: work + "/" + name)
        }
        func result(_ out: String) -> String { command.result.isEmpty ? out : out + "/" + command.result }

        let straightOut = work + (command.directory ? "/straight" : "/straight.safetensors")
        let start = Date()
        let straight = try shrink(command.arguments(work, straightOut))
        let duration = Date().timeIntervalSince(start)
        #expect(straight.status == 0, "\(command): \(straight.stderr)")
        let expected = try readFile(result(straightOut))

        // The kill: a seeded point between 10% and 85% of the uninterrupted run's length.
        var generator = SeededGenerator(seed: Self.seed, stream: command.name)
        var fraction = 0.10 + 0.75 * Double(generator.nextUniform())
        let killedOut = work + (command.directory ? "/killed" : "/killed.safetensors")
        // A run that happens to be faster than the uninterrupted one may finish before the kill: then start again
        // from nothing with half the delay (a loaded machine's timings vary).
        var wasRunning = false
        for _ in 0..<4 where !wasRunning {
            try? FileManager.default.removeItem(atPath: killedOut)
            try? FileManager.default.removeItem(atPath: work + "/checkpoints")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: shrinkBinary())
            process.arguments = command.arguments(work, killedOut)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(useconds_t(duration * fraction * 1_000_000))
            wasRunning = process.isRunning
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if !wasRunning { fraction /= 2 }
        }
        #expect(wasRunning, "\(command) finished before it was killed, four times")
        if !command.directory {
            #expect(!FileManager.default.fileExists(atPath: killedOut), "\(command): an output after the kill")
        }
        let checkpoints = (try? FileManager.default.contentsOfDirectory(atPath: work + "/checkpoints")) ?? []
        print("kill test: \(command): uninterrupted \(String(format: "%.2f", duration)) s, killed at "
              + "\(String(format: "%.2f", fraction)) of it" + (checkpoints.isEmpty ? "" : " with a checkpoint to resume from"))

        let again = try shrink(command.arguments(work, killedOut))
        #expect(again.status == 0, "\(command): \(again.stderr)")
        let resumed = try readFile(result(killedOut))
        let message = "\(command): killed at \(String(format: "%.2f", fraction)) of \(String(format: "%.1f", duration)) s "
            + "(checkpoints then: \(checkpoints)), the second run's \(command.result.isEmpty ? "model" : command.result) differs"
        #expect(resumed == expected, "\(message)")
        // Nothing half-written is left beside the output, and a finished training leaves no checkpoint.
        let directory = command.directory ? killedOut : work
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(command): \(leftovers)")
        if command.arguments(work, killedOut).contains("--checkpoint") {
            let remaining = (try? FileManager.default.contentsOfDirectory(atPath: work + "/checkpoints")) ?? []
            #expect(remaining.isEmpty, "\(command): \(remaining) after a finished run")
        }
    }
}
