// IntegerWeightTensor and BitPacking: codes of every width survive packing and a file round trip, 8 bits stay I8,
// narrower codes take ⌈n·b/8⌉ bytes, and a file whose packed tensor does not fit its metadata is refused by name.
import NeuralNetworks
import Tensors
import Testing

@Suite struct IntegerWeightTensorTests {
    @Test func bitPackingIsExactForEveryWidthAndCount() {
        var g = SeededGenerator(seed: 5)
        for bits in 1...8 {
            for count in [0, 1, 7, 8, 9, 23, 64, 100] {
                let codes = (0..<count).map { _ in UInt8(g.nextInt(below: 1 << bits)) }
                let packed = BitPacking.pack(codes, bits: bits)
                #expect(packed.count == (count * bits + 7) / 8)
                #expect(BitPacking.unpack(packed, bits: bits, count: count) == codes, "bits \(bits), count \(count)")
            }
        }
        // By hand: 3-bit codes 5, 2, 7 → bits 101 | 010 | 111 from the least significant end: 0b1_1101_0101 →
        // bytes 0xD5, 0x01.
        #expect(BitPacking.pack([5, 2, 7], bits: 3) == [0xD5, 0x01])
    }

    @Test(arguments: [2, 3, 4, 8])
    func fileRoundTripKeepsCodesScalesAndGranularity(bits: Int) throws {
        var g = SeededGenerator(seed: UInt64(bits))
        let limit = (1 << (bits - 1)) - 1
        let shape = [3, 2, 3, 3], count = 54
        let values = (0..<count).map { _ in Int8(g.nextInt(below: 2 * limit + 1) - limit) }
        for perChannel in [true, false] {
            let scales: [Float] = perChannel ? [0.5, 0.25, 2] : [0.125]
            let weight = try IntegerWeightTensor(shape: shape, values: values, scales: scales, bits: bits,
                                                 perChannel: perChannel)
            var container = SafeTensorsFile(tensors: [("conv.weight", SafeTensor(Tensor(zeros: shape)))], metadata: [:])
            try container.store(weight, as: "conv.weight")
            #expect(container.order == ["conv.weight", "conv.weight_scale"])
            #expect(container.tensors["conv.weight"]!.dtype == (bits == 8 ? "I8" : "U8"))
            #expect(container.tensors["conv.weight"]!.bytes.count == weight.storedBytes)
            #expect(weight.storedBytes == (bits == 8 ? count : (count * bits + 7) / 8))
            let decoded = try SafeTensorsFile.decode(try container.encoded(), file: "w.safetensors")
            let read = try IntegerWeightTensor.read("conv.weight", in: decoded, file: "w.safetensors")
            #expect(read == weight)
            // W = S · q, with the channel's scale (or the tensor's).
            let dense = weight.dequantized()
            #expect(dense.shape == shape)
            #expect(dense.scalars[20] == scales[perChannel ? 20 / 18 : 0] * Float(values[20]))
        }
    }

    @Test func codesOutsideTheNarrowRangeAndBadFilesAreRefused() throws {
        #expect(throws: ShrinkError.self) {
            try IntegerWeightTensor(shape: [1, 2], values: [-8, 0], scales: [1], bits: 4, perChannel: true)
        }
        #expect(throws: ShrinkError.self) {
            try IntegerWeightTensor(shape: [1, 2], values: [1, 0], scales: [1], bits: 9, perChannel: true)
        }
        let weight = try IntegerWeightTensor(shape: [2, 4], values: [1, -1, 0, 7, 3, 2, -7, 0], scales: [1, 2], bits: 4,
                                             perChannel: true)
        var container = SafeTensorsFile(tensors: [], metadata: [:])
        try container.store(weight, as: "fc.weight")
        var short = container
        short.tensors["fc.weight"]!.bytes.removeLast()
        short.tensors["fc.weight"]!.shape = [3]
        let error = #expect(throws: ShrinkError.self) { try IntegerWeightTensor.read("fc.weight", in: short, file: "m.st") }
        #expect(error?.message.contains("m.st") == true && error?.message.contains("fc.weight") == true)
        var noScales = container
        noScales.tensors["fc.weight_scale"] = nil
        #expect(throws: ShrinkError.self) { try IntegerWeightTensor.read("fc.weight", in: noScales, file: "m.st") }
        var badMetadata = container
        badMetadata.metadata[IntegerWeightTensor.metadataKey] = "{not json"
        #expect(throws: ShrinkError.self) { try IntegerWeightTensor.read("fc.weight", in: badMetadata, file: "m.st") }
    }
}
