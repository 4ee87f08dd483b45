// `shrink run RECIPE --out DIR`: parses a recipe (`Recipe.parse`) and runs it in this process (`RecipeRunner`):
// every step's model in DIR/models, its report in DIR/steps, a journal that a rerun resumes from, and the
// comparison report (Markdown, JSON, SVG).
import ArgumentParser
import Foundation
import Shrink

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a compression recipe (YAML): train, prune, distil, quantize, qat, search, eval, bench — then a comparison report.",
        discussion: """
            A recipe names the data, the starting model ('model: FILE', or a first 'train' step) and the steps; \
            each step is one pass with the options of its subcommand (snake_case keys, e.g. finetune_epochs: 2). \
            Each step works on the model the step before produced; distill trains the student it names from the \
            current model as teacher, and search replaces the model with the best architecture it found. \
            Everything is checked before the first step runs, and errors name the recipe's line. The steps run in \
            this process. Outputs: DIR/models/STEP.safetensors, DIR/steps/STEP.json (the step's report), \
            DIR/journal.jsonl, DIR/report.md, DIR/report.json, DIR/accuracy-bytes.svg, DIR/accuracy-latency.svg. \
            Run again after a crash or a kill, the same command skips the finished steps and ends with the same \
            final model. See docs/recipes.md.
            """)

    @Argument(help: "The recipe file (.yaml).")
    var recipe: String

    @Option(help: "Output directory (created if missing).")
    var out: String

    @Option(help: "Use this data spec instead of the recipe's (e.g. a small .npz for a first try).")
    var data: String?

    @Flag(help: "Fast settings for a first look or a test: epochs, fine-tuning epochs, final epochs, rounds and seeds capped at 1, search trials at 2 and its validation samples at 100, the report's benchmark at 0.05 s.")
    var fast = false

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        try reporting {
            runtime.apply()
            let text = String(decoding: try readFile(recipe), as: UTF8.self)
            try runRecipe(try Recipe.parse(text, file: recipe), data: data, fast: fast, out: out,
                          title: "Report of \(recipe)", json: runtime.json)
        }
    }
}

/// Runs a parsed recipe in-process and prints its comparison table (or its rows as JSON).
func runRecipe(_ parsed: Recipe, data: String?, fast: Bool, out: String, title: String, json: Bool) throws {
    var recipe = fast ? parsed.fast() : parsed
    if let data { recipe.data = data }
    let printer = ProgressPrinter("run")
    let outcome = try RecipeRunner(recipe, directory: out, title: title).run(progress: printer.handler)
    if json {
        print(try jsonString(outcome.report.rows))
    } else {
        print(outcome.report.table)
        print("final model: \(outcome.finalModel ?? "none"); report: \(out)/report.md")
    }
}
