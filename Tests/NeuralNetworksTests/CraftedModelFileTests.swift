// Crafted model files: every hyper-parameter and shape that could make the loader allocate absurdly, overflow or
// trap later in forward is rejected with an error instead.
import Datasets
import Foundation
import NeuralNetworks
import Tensors
import Testing

/// A container for a one-node graph (`spec` on `inputShape`) plus a flatten and a linear head, with the given
/// tensors for node "n".
private func container(inputShape: [Int], spec: String, tensors: [(String, Tensor)], head: Bool = true,
                       normalization: String = "{\"mean\":0,\"std\":1}") -> SafeTensorsFile {
    let nodes = head
        ? "[{\"name\":\"n\",\"inputs\":[\"input\"],\"layer\":\(spec)},{\"name\":\"f\",\"inputs\":[\"n\"],\"layer\":{\"kind\":\"flatten\"}}]"
        : "[{\"name\":\"n\",\"inputs\":[\"input\"],\"layer\":\(spec)}]"
    let graph = "{\"input_shape\":\(inputShape),\"output\":\"\(head ? "f" : "n")\",\"nodes\":\(nodes)}"
    return SafeTensorsFile(tensors: tensors.map { ("n.\($0.0)", SafeTensor($0.1)) }, metadata: [
        "shrink.version": "1", "shrink.architecture": "custom", "shrink.graph": graph,
        "shrink.normalization": normalization, "shrink.provenance": "[]",
    ])
}

private func expectRejected(_ file: SafeTensorsFile, mentioning text: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try Model.load(file, file: "crafted")
        Issue.record("the crafted file loaded", sourceLocation: sourceLocation)
    } catch let error as ShrinkError {
        #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct CraftedModelFileTests {
    @Test func hugeLayerSizesAreCheckedAgainstTheStoredTensorsBeforeAnyAllocation() {
        let linear = "{\"kind\":\"linear\",\"input_features\":1000000,\"output_features\":1000000}"
        expectRejected(container(inputShape: [4], spec: linear, tensors: [("weight", Tensor(zeros: [2, 4])),
                                                                          ("bias", Tensor(zeros: [2]))]),
                       mentioning: "needs [1000000, 1000000]")
        let conv = "{\"kind\":\"conv2d\",\"input_channels\":1,\"output_channels\":1,\"kernel_size\":4294967296}"
        expectRejected(container(inputShape: [1, 4, 4], spec: conv, tensors: []), mentioning: "kernel_size")
        let padded = "{\"kind\":\"conv2d\",\"input_channels\":1,\"output_channels\":1,\"kernel_size\":1,\"padding\":4611686018427387904}"
        expectRejected(container(inputShape: [1, 4, 4], spec: padded,
                                 tensors: [("weight", Tensor(zeros: [1, 1, 1, 1])), ("bias", Tensor(zeros: [1]))]),
                       mentioning: "padding")
    }

    @Test func absurdOrNegativeInputShapesAreRejected() {
        let relu = "{\"kind\":\"relu\"}"
        expectRejected(container(inputShape: [1, 4_294_967_296, 4_294_967_296], spec: relu, tensors: []),
                       mentioning: "every extent")
        expectRejected(container(inputShape: [-1, -784], spec: relu, tensors: []), mentioning: "every extent")
        expectRejected(container(inputShape: [65536, 65536], spec: relu, tensors: []), mentioning: "elements per sample")
    }

    @Test func windowsThatDoNotFitTheInputAreRejected() {
        // A 2×2 pool over width 1 would read past the plane; a 5×5 kernel with stride 2 does not fit 4×4.
        expectRejected(container(inputShape: [1, 28, 1], spec: "{\"kind\":\"maxpool2d\",\"kernel_size\":2}", tensors: []),
                       mentioning: "does not fit")
        let conv = "{\"kind\":\"conv2d\",\"input_channels\":1,\"output_channels\":1,\"kernel_size\":5,\"stride\":2}"
        expectRejected(container(inputShape: [1, 4, 4], spec: conv,
                                 tensors: [("weight", Tensor(zeros: [1, 1, 5, 5])), ("bias", Tensor(zeros: [1]))]),
                       mentioning: "does not fit")
    }

    @Test func nonClassifierOutputsAndBadStatisticsAreRejected() {
        expectRejected(container(inputShape: [1, 4, 4], spec: "{\"kind\":\"relu\"}", tensors: [], head: false),
                       mentioning: "classifier")
        let bn = "{\"kind\":\"batchnorm\",\"features\":2}"
        let stats: [(String, Tensor)] = [("weight", Tensor(zeros: [2])), ("bias", Tensor(zeros: [2])),
                                         ("running_mean", Tensor(zeros: [2])),
                                         ("running_var", Tensor(shape: [2], scalars: [1, -1]))]
        expectRejected(container(inputShape: [2], spec: bn, tensors: stats), mentioning: "negative variance")
        expectRejected(container(inputShape: [4], spec: "{\"kind\":\"relu\"}", tensors: [],
                                 normalization: "{\"mean\":0,\"std\":0}"), mentioning: "positive std")
    }

    @Test func tensorSizesThatOverflowAreRejected() throws {
        let header = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}"
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        #expect(throws: ShrinkError.self) { _ = try SafeTensorsFile.decode(bytes, file: "crafted") }
    }

    @Test func adamCountsStepsPerParameter() {
        let adam = Adam(learningRate: 0.1)
        let first = Parameter(Tensor(shape: [1], scalars: [0]))
        first.gradient = Tensor(shape: [1], scalars: [1])
        adam.step([first]); adam.step([first])
        let late = Parameter(Tensor(shape: [1], scalars: [0]))
        late.gradient = Tensor(shape: [1], scalars: [-2])
        adam.step([late])  // its own first step: bias-corrected, moves by exactly lr
        #expect(abs(late.value.scalars[0] - 0.1) < 1e-5)
    }
}
