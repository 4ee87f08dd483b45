// The `shrink` command: subcommands over the library's passes. Progress and logs go to stderr; `--json` prints
// one JSON document on stdout; errors exit with status 1 and a message naming the file or field.
import ArgumentParser
import Shrink

@main
struct ShrinkCommand: ParsableCommand {
    /// Keeps large freed blocks in the heap instead of returning them to the kernel: training allocates tens of
    /// megabytes of activations and gradients every step, and fresh pages from the kernel cost a page-clearing pass
    /// each time (about 7% of a training step). This tunes the `shrink` process only, not the library.
    static func tuneAllocator() {
        Allocator.keepFreedMemory()
    }

    static func main() {
        tuneAllocator()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "shrink",
        abstract: "Compress neural networks for edge devices: train, quantize, prune and distil models, then evaluate, inspect and benchmark them.",
        discussion: """
            Data specs: 'fashion-mnist' (the Debian package dataset-fashion-mnist, or $SHRINK_DATA_DIR), a \
            directory of IDX files, or an .npz file with x_train, y_train, x_test, y_test.
            Architectures: \(Architecture.names).
            """,
        subcommands: [Info.self, Train.self, Eval.self, Bench.self, Quantize.self, Prune.self, Sensitivity.self,
                      Distill.self, QAT.self, Search.self, Import.self, Export.self, Run.self, Demo.self]
    )
}

/// Options every subcommand that computes shares.
struct RuntimeOptions: ParsableArguments {
    @Option(help: "Threads in total (OpenBLAS's pool). Default: all cores.")
    var threads: Int?

    @Flag(help: "Print one JSON document on stdout instead of a table.")
    var json = false

    func validate() throws {
        if let threads, threads < 1 || threads > 256 {
            throw ValidationError("--threads must be between 1 and 256, got \(threads)")
        }
    }

    /// Applies the thread setting.
    func apply() {
        BLAS.threads = threads ?? BLAS.processors
    }
}

/// Turns a library error into the message ArgumentParser prints before exiting with status 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, reporting a ShrinkError as a plain message (no Swift type dump).
func reporting<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ShrinkError {
        throw CommandError(description: error.message)
    }
}
