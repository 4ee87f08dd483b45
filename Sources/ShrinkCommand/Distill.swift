// `shrink distill`: DistillPass — a student trained against a teacher (response-, feature-, attention- or
// relation-based) and, with --seeds K, the same student K times with and K times without distillation.
import ArgumentParser
import Foundation
import Shrink

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student model from a teacher (knowledge distillation).",
        discussion: """
            The student is a built-in architecture (--arch, initialised from the seed) or a model file (--student, \
            e.g. a pruned model distilled from its dense parent). The teacher runs once over the training split in \
            inference mode and its outputs are cached. Kinds: response (α·T²·KL(teacher ‖ student) + (1 − α)·CE), \
            feature (CE + β·MSE between the student's node, through a learned 1×1 conv or linear regressor, and the \
            teacher's), attention (CE + β/2 · mean squared difference of normalised attention maps) and relation (CE + β·Huber \
            of normalised pairwise distances, RKD). Feature, attention and relation use --feature-pairs \
            teacherNode:studentNode, by default the input of each network's last layer (attention: the last feature \
            maps of equal size). With --seeds K the student is trained K times with distillation and K times alone \
            (seeds 0…K−1, same epochs and schedule) and the test accuracies are reported as mean ± standard \
            deviation; the first distilled student is saved.
            """)

    @Option(help: "The teacher model file (.safetensors).")
    var teacher: String

    @Option(help: "Student architecture to train from scratch.")
    var arch: Architecture?

    @Option(help: "Student model file to start from (instead of --arch).")
    var student: String?

    @OptionGroup var data: DataOptions

    @Option(help: "Output model file for the (first) distilled student; written atomically.")
    var out: String

    @Option(help: "Kind of distillation.")
    var kind: DistillationKind = DistillPass(student: .architecture(.mlp)).settings.kind

    @Option(help: "Softmax temperature of the response loss (> 0).")
    var temperature: Float = DistillPass(student: .architecture(.mlp)).settings.temperature

    @Option(help: "Weight of the soft term in the response loss, in [0, 1].")
    var alpha: Float = DistillPass(student: .architecture(.mlp)).settings.alpha

    @Option(help: "Weight of the feature, attention or relation term (default 1, 1000 and 25).")
    var beta: Float?

    @Option(help: "teacherNode:studentNode for feature, attention and relation distillation.")
    var featurePairs: String?

    @Option(help: "Response distillation at each of these temperatures (comma-separated), against one set of students trained alone: a temperature sweep.")
    var temperatures: String?

    @Option(help: "With --temperatures: also write the sweep as an SVG chart to this file (written atomically).")
    var svg: String?

    @Option(help: "Training epochs of each student.")
    var epochs: Int = DistillPass(student: .architecture(.mlp)).epochs

    @Option(help: "Students trained with and without distillation (seeds 0…K−1).")
    var seeds: Int = DistillPass(student: .architecture(.mlp)).seeds

    @Option(help: "Base learning rate (SGD with Nesterov momentum, warm-up and cosine decay).")
    var lr: Float = DistillPass(student: .architecture(.mlp)).learningRate

    @Option(help: "Samples per step.")
    var batchSize: Int = DistillPass(student: .architecture(.mlp)).batchSize

    @OptionGroup var runtime: RuntimeOptions

    /// The pass, with the student as a placeholder architecture when it is a file (opened in `run`).
    func pass(student source: StudentSource? = nil) throws -> DistillPass {
        var p = DistillPass(student: source ?? .architecture(arch ?? .fmnistCNN))
        p.settings.kind = kind
        p.settings.temperature = temperature
        p.settings.alpha = alpha
        p.settings.beta = beta
        p.settings.pair = try featurePairs.map { try DistillPass.pair($0) }
        if let temperatures {
            let values = temperatures.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                throw ShrinkError(.value, "--temperatures must be positive numbers separated by commas, got '\(temperatures)'")
            }
            p.temperatures = values.compactMap { $0 }
        }
        p.epochs = epochs
        p.seeds = seeds
        p.learningRate = lr
        p.batchSize = batchSize
        return p
    }

    func validate() throws {
        guard (arch == nil) != (student == nil) else { throw ValidationError("give either --arch NAME or --student MODEL") }
        if svg != nil && temperatures == nil { throw ValidationError("--svg draws a --temperatures sweep") }
        try validating { try pass() }
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            if let svg { try checkWritable(svg) }
            let source: StudentSource = try student.map { .model(try ShrinkModel.load(from: $0)) } ?? .architecture(arch ?? .fmnistCNN)
            let result = try pass(student: source).run(try ShrinkModel.load(from: teacher), data: try data.load(),
                                                       progress: ProgressPrinter("distill").handler)
            try result.model.save(to: out)
            let d = try details(of: result.report, as: DistillPass.Details.self)
            if let svg, let chart = d.sweepChart { try AtomicFile.write(Array(chart.svg.utf8), to: svg) }
            if runtime.json {
                try emit(result.report, out: out, json: true, line: "")
            } else if let sweep = d.sweep, let alone = d.student_alone {
                var table = TextTable(headers: ["T", "distilled mean", "std", "− alone"])
                for point in sweep {
                    table.append([String(format: "%g", point.temperature), String(format: "%.2f%%", 100 * point.mean),
                                  String(format: "%.2f", 100 * point.std),
                                  String(format: "%+.2f", 100 * (point.mean - alone.mean))])
                }
                print(String(format: "student alone: %.2f%% ± %.2f over %d seeds (teacher %.2f%%)", 100 * alone.mean,
                             100 * alone.std, seeds, 100 * d.teacher_accuracy))
                print(table)
            } else if let alone = d.student_alone {
                let w = d.with_distillation
                print(String(format: "with distillation %.2f%% ± %.2f, alone %.2f%% ± %.2f over %d seeds (teacher %.2f%%); "
                             + "difference %+.2f points; saved %@", 100 * w.mean, 100 * w.std, 100 * alone.mean,
                             100 * alone.std, seeds, 100 * d.teacher_accuracy, 100 * (w.mean - alone.mean), out))
            } else {
                print(String(format: "distilled student: test accuracy %.2f%% (teacher %.2f%%); saved %@",
                             100 * d.with_distillation.mean, 100 * d.teacher_accuracy, out))
            }
        }
    }
}
