// The demo: the demo recipe (recipes/demo.yaml, embedded so that an installed binary has it) and the Fashion-MNIST
// subset its quick form runs on.
import Datasets
import Foundation
import Tensors

/// `shrink demo`: fmnist-cnn trained on Fashion-MNIST, then every technique on it, then the comparison report.
public enum DemoRecipe {
    /// recipes/demo.yaml (a test checks that the two are the same).
    public static let recipe = """
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

    /// The quick demo's data: the first 6,000 training and 2,000 test images of Fashion-MNIST as an .npz file in
    /// `directory`, in the data's own byte form (written once; an existing file is used as it is). Returns its path.
    public static func quickData(in directory: String) throws -> String {
        let subset = "\(directory)/fashion-mnist-subset.npz"
        guard !FileManager.default.fileExists(atPath: subset) else { return subset }
        let split = try DataSource.load(DataSource.fashionMNIST)
        let train = split.train.prefix(6000), test = split.test.prefix(2000)
        func pixels(_ d: Dataset) throws -> NPYArray {
            NPYArray(uint8: try d.inputs.scalars.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) },
                     shape: [d.count] + d.sampleShape.filter { $0 != 1 })
        }
        func labels(_ d: Dataset) -> NPYArray { NPYArray(int64: d.labels.map(Int64.init), shape: [d.count]) }
        try NPZ.write([("x_train", try pixels(train)), ("y_train", labels(train)), ("x_test", try pixels(test)),
                       ("y_test", labels(test))], to: subset, compressed: true)
        return subset
    }
}
