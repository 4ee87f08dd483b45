// ObserverKind and the Observer contract shared by every kind: names, the factory, unknown names, no data, NaN,
// reset, and that no observer's range is ever wider than MinMax's.
import Quantization
import Tensors
import Testing

@Suite struct ObserverKindTests {
    @Test func namesAndFactory() throws {
        #expect(ObserverKind.allCases.map(\.rawValue) == ["minmax", "moving-average", "percentile", "mse", "entropy"])
        for kind in ObserverKind.allCases {
            #expect(try ObserverKind(named: kind.rawValue) == kind)
            let perTensor = kind.make(), perChannel = kind.make(axis: 0)
            #expect(perTensor.name == kind.rawValue && perTensor.axis == nil && perChannel.axis == 0)
        }
        expectShrinkError(.unknownName, containing: ["'kl'", "minmax, moving-average, percentile, mse, entropy"]) {
            _ = try ObserverKind(named: "kl")
        }
    }

    @Test(arguments: ObserverKind.allCases)
    func contract(kind: ObserverKind) throws {
        let observer = kind.make(axis: 1)
        expectShrinkError(.value, containing: [kind.rawValue, "no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        }
        try observer.observe(fourDimensional)
        expectShrinkError(.value, containing: [kind.rawValue, "inf"]) {
            try observer.observe(fourDimensional * .infinity)
        }
        expectShrinkError(.shape) { try observer.observe(Tensor(zeros: [1, 4])) }
        expectShrinkError(.value, containing: ["got 1"]) {
            _ = try observer.computeParameters(bits: 1, signed: true, symmetric: true)
        }
        // Every observer's range lies inside the data's, so its scale is at most MinMax's (channel c: 4(c+1)/127.5).
        let p = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        #expect(p.axis == 1 && p.channelCount == 3)
        for (scale, bound) in zip(p.scales, [Float(4 / 127.5), Float(8 / 127.5), Float(12 / 127.5)]) {
            #expect(scale <= bound && scale > 0, "\(observer)")
        }
        observer.reset()
        expectShrinkError(.value, containing: ["no data"]) {
            _ = try observer.computeParameters(bits: 8, signed: true, symmetric: true)
        }
        try observer.observe(Tensor(shape: [1, 2], scalars: [-1, 1]))
        #expect(try observer.computeParameters(bits: 8, signed: false, symmetric: false).channelCount == 2)
    }

    @Test(arguments: ObserverKind.allCases)
    func nanStopsCalibration(kind: ObserverKind) {
        let observer = kind.make()
        expectShrinkError(.value, containing: ["element 1", "nan"]) {
            try observer.observe(Tensor(shape: [3], scalars: [0, .nan, 1]))
        }
    }
}
