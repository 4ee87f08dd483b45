// `shrink demo`: the demo recipe (`Demo.recipe`, the same text as recipes/demo.yaml) on Fashion-MNIST, or with
// --quick on a subset with fast settings, ending with the comparison table.
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
            on the first 6,000 training and 2,000 test images with fast settings in about 2, in its own \
            directory (out/demo-quick). Like 'shrink run', the same command again resumes where it stopped; a step \
            whose settings or data changed runs again from clean state.
            """)

    @Option(name: .customLong("out"), help: "Output directory (default: out/demo, or out/demo-quick with --quick).")
    var outDirectory: String?

    /// The output directory: the quick demo's apart from the full one's unless told otherwise.
    var out: String { outDirectory ?? (quick ? "out/demo-quick" : "out/demo") }

    @Flag(help: "A first look: a subset of the data and fast settings.")
    var quick = false

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        try reporting {
            runtime.apply()
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw ShrinkError(.io, "cannot create \(out): \(error.localizedDescription)")
            }
            let recipePath = "\(out)/demo.yaml"
            try AtomicFile.write(Array((DemoRecipe.recipe + "\n").utf8), to: recipePath)
            let recipe = try Recipe.parse(DemoRecipe.recipe, file: recipePath)
            do {
                try runRecipe(recipe, data: quick ? try DemoRecipe.quickData(in: out) : nil, fast: quick, out: out,
                              title: "Report of \(recipePath)", json: runtime.json)
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "\(error.message)\nthe demo stopped; run the same command again to resume")
            }
        }
    }
}
