// LoadedModel: a model file as the commands use it — float, or quantized and run on the integer engine.
import Shrink

/// A model file opened for evaluation or benchmarking.
struct LoadedModel {
    /// The float view (for a quantized file: the folded graph with dequantized weights); it carries the
    /// normalisation and the sample shape.
    let float: Model
    /// The integer model, when the file is quantized.
    let quantized: QuantizedModel?

    init(path: String) throws {
        let container = try SafeTensorsFile.decode(try readFile(path), file: path)
        if QuantizedModel.isQuantized(container) {
            let model = try QuantizedModel.load(from: path)
            float = model.float
            quantized = model
        } else {
            float = try Model.load(container, file: path)
            quantized = nil
            // Pruned linear layers run on the sparse kernel where it beats the dense one.
            float.graph.useSparseKernels()
        }
    }

    /// Logits of prepared inputs, in batches.
    func predict(_ inputs: Tensor, batchSize: Int) throws -> Tensor {
        if let quantized { return try quantized.predict(inputs, batchSize: batchSize) }
        return Shrink.predict(float.graph, inputs, batchSize: batchSize)
    }

    /// One inference call on a batch (the float engine splits large batches across threads; the integer engine
    /// runs on one thread for now).
    func infer(_ input: Tensor, threads: Int) throws -> Tensor {
        if let quantized { return try quantized.graph.forward(input) }
        return float.graph.infer(input, threads: threads)
    }
}

/// A float model file for a pass that trains or rewrites float weights, with its bytes (for size reports). A file
/// that is quantized — for the integer engine, or weight-only — is refused with `advice` ("quantize the float model
/// it came from").
func loadFloatModel(_ path: String, advice: String) throws -> (model: Model, bytes: [UInt8]) {
    let bytes = try readFile(path)
    let container = try SafeTensorsFile.decode(bytes, file: path)
    guard !QuantizedModel.isQuantized(container), IntegerWeightTensor.storedBits(in: container).isEmpty else {
        throw ShrinkError(.value, "\(path) is already quantized; \(advice)")
    }
    return (try Model.load(container, file: path), bytes)
}
