// The ONNX passes: import (an ONNX file in, a Shrink model out) and export (a Shrink model in, an ONNX file out:
// float, or int8 in the QDQ format for an integer-engine model).
import Datasets
import Foundation
import NeuralNetworks
import ONNX
import Quantization
import Tensors

/// Imports an ONNX model (opsets 11–17) as a float Shrink model; the input model is ignored (pass nil).
///
/// Files written by `ExportPass` carry their normalisation; for others give `normalization`, the one the network
/// expects of inputs scaled to [0, 1] (default none).
public struct ImportPass: Pass {
    public static let name = "import"
    /// The ONNX file.
    public var file: String
    public var normalization: Normalization?

    public init(file: String, normalization: Normalization? = nil) {
        self.file = file
        self.normalization = normalization
    }

    public func validate() throws {
        if let normalization {
            guard normalization.mean.isFinite, normalization.std > 0, normalization.std.isFinite else {
                throw ShrinkError(.value, "the normalisation needs a finite mean and a positive std")
            }
        }
    }

    /// The `shrink import --json` document.
    public struct Details: Encodable, Sendable {
        public var architecture: String, nodes: Int, parameters: Int, macs: Int, input_shape: [Int], classes: Int
        public var opset: String
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let imported = try importONNX(from: file, normalization: normalization)
        let result = try ShrinkModel(imported)
        let cost = imported.graph.cost()
        let details = Details(architecture: imported.architecture, nodes: imported.graph.nodes.count,
                              parameters: cost.parameters, macs: cost.macs, input_shape: imported.graph.inputShape,
                              classes: imported.classCount, opset: imported.provenance.last?.settings["opset"] ?? "")
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: imported.provenance.last?.settings ?? [:], before: nil,
            after: ModelFigures(result.cost),
            details: details))
    }
}

/// The ONNX form of a model: float at opset 17, or QDQ int8 for an integer-engine model. Weight-only and binarized
/// models have no ONNX form here.
public func onnxBytes(_ model: ShrinkModel) throws -> [UInt8] {
    let proto: Onnx_ModelProto
    switch model.engine {
    case .integer:
        guard let quantized = model.quantized else { throw ShrinkError(.value, "\(model.origin): no integer graph") }
        proto = try onnxModel(quantized)
    case .float:
        proto = try onnxModel(model.float)
    case .weightOnly, .binarized:
        throw ShrinkError(.unsupported, "\(model.origin) stores weight-only or binarized integer weights, which have no "
            + "ONNX form here; export the float model, or an integer-engine model from 'shrink quantize'")
    }
    return try serializedONNX(proto)
}

/// Exports a model as an ONNX file (`out`, written atomically); gives back the model it was given.
public struct ExportPass: Pass {
    public static let name = "export"
    public var out: String

    public init(out: String) { self.out = out }

    public func validate() throws {
        guard !out.isEmpty else { throw ShrinkError(.value, "export needs an output path") }
    }

    /// The `shrink export --json` document (strings, as it always printed).
    public struct Details: Encodable, Sendable {
        public var bytes: String, opset: String
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let input = try required(model)
        let bytes = try onnxBytes(input)
        try AtomicFile.write(bytes, to: out)
        let figures = ModelFigures(input.cost)
        var report = PassReport(pass: Self.name, settings: ["opset": "\(exportOpset)", "format": input.engine == .integer
                                    ? "qdq" : "float"],
                                before: figures, after: figures,
                                details: Details(bytes: "\(bytes.count)", opset: "\(exportOpset)"))
        report.out = out
        return PassResult(model: input, report: report)
    }
}
