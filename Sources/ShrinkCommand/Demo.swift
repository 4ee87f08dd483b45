// `shrink demo`: the demo recipe (recipes/demo.yaml, embedded so that an installed binary has it) on Fashion-MNIST,
// or with --quick on a subset with fast settings, ending with the comparison table.
import ArgumentParser
import Foundation
import Shrink

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Train fmnist-cnn on Fashion-MNIST and run every technique on it, then print the comparison table.",
        discussion: """
            Runs the demo recipe (recipes/demo.yaml): pruning (unstructured and structured), int8 quantization, \
            QAT (W4A4 and binarized), distillation into fmnist-small, and a short architecture search, each from \
            the dense model, then the report (DIR/report.md and charts). About 10 minutes on 2 cores; --quick runs \
            on the first 6,000 training and 2,000 test images with fast settings in about 2. Like 'shrink run', \
            the same command again resumes where it stopped.
            """)

    /// recipes/demo.yaml (a test checks that the two are the same).
    static let recipe = """
        # The demo (`shrink demo`, Scripts/demo.sh): a dense fmnist-cnn, then every technique Shrink has, each from the
        # dense model unless a step says otherwise — unstructured and structured pruning, int8 post-training quantization,
        # quantization-aware training (W4A4) and a binarized network, distillation into fmnist-small (then int8), and a
        # short architecture search under 1 M MACs. The report compares every model with the dense one.
        #   shrink run recipes/demo.yaml --out out/demo          (about 10 minutes on 2 cores)
        #   shrink demo --quick                                    (a subset and fast settings: about 2 minutes)
        data: fashion-mnist
        steps:
          - train: {arch: fmnist-cnn, epochs: 3, name: dense}
          - prune: {structure: unstructured, sparsity: 0.9, schedule: iterative, rounds: 3, finetune_epochs: 1, name: sparse-90}
          - prune: {from: dense, structure: filter, sparsity: 0.5, finetune_epochs: 1, name: filter-50}
          - quantize: {from: dense, observer: auto, name: int8}
          - qat: {from: dense, weight_bits: 4, activation_bits: 4, epochs: 1, name: qat-w4a4}
          - qat: {from: dense, binary: true, epochs: 1, name: binarized}
          - distill: {from: dense, arch: fmnist-small, epochs: 3, name: student}
          - quantize: {observer: auto, name: student-int8}
          - search: {space: mobile-cnn, strategy: bayesian, estimator: low-fidelity, trials: 8, max_macs: 1000000, final_epochs: 3, seed: 3, name: searched}
        """

    @Option(help: "Output directory.")
    var out: String = "out/demo"

    @Flag(help: "A first look: a subset of the data and fast settings.")
    var quick = false

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        try reporting {
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw ShrinkError(.io, "cannot create \(out): \(error.localizedDescription)")
            }
            let recipePath = "\(out)/demo.yaml"
            try AtomicFile.write(Array((Demo.recipe + "\n").utf8), to: recipePath)
            var arguments = ["run", recipePath, "--out", out]
            if quick {
                // The subset as an .npz beside the outputs, in the data's own byte form.
                let subset = "\(out)/fashion-mnist-subset.npz"
                if !FileManager.default.fileExists(atPath: subset) {
                    let split = try DataSource.load("fashion-mnist")
                    let train = split.train.prefix(6000), test = split.test.prefix(2000)
                    func pixels(_ d: Dataset) -> NPYArray {
                        NPYArray(uint8: d.inputs.scalars.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) },
                                 shape: [d.count] + d.sampleShape.filter { $0 != 1 })
                    }
                    func labels(_ d: Dataset) -> NPYArray { NPYArray(int64: d.labels.map(Int64.init), shape: [d.count]) }
                    try NPZ.write([("x_train", pixels(train)), ("y_train", labels(train)), ("x_test", pixels(test)),
                                   ("y_test", labels(test))], to: subset, compressed: true)
                }
                arguments += ["--data", subset, "--fast"]
            }
            if let threads = runtime.threads { arguments += ["--threads", "\(threads)"] }
            if runtime.json { arguments.append("--json") }
            let status = try runShrink(arguments, captureOutput: false).status
            guard status == 0 else {
                throw ShrinkError(.value, "the demo stopped (status \(status)); run the same command again to resume")
            }
        }
    }
}
