// Tests of NPY reading and writing: round trips of every dtype, element conversions, header variants numpy has written
// over the years, and truncated or malformed files.
import Datasets
import Testing
import Tensors

/// An NPY file from a hand-written header (padded to 64 bytes) and raw data, in format version `major`.
func handMadeNPY(_ header: String, data: [UInt8], major: UInt8 = 1) -> [UInt8] {
    let prefix = major == 1 ? 10 : 12
    let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
    let text = Array((header + String(repeating: " ", count: padding) + "\n").utf8)
    var file: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    if major == 1 {
        file += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
    } else {
        file += [UInt8(text.count & 0xFF), UInt8(text.count >> 8), 0, 0]
    }
    return file + text + data
}

@Test(arguments: ["<f4", "<f8", "|u1", "|i1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "|b1"])
func everyDtypeRoundTrips(dtype: String) throws {
    let itemSize = Int(dtype.dropFirst(2))!
    let raw = dtype == "|b1" ? [0, 1, 1, 0, 0, 1] : seededBytes(6 * itemSize, seed: UInt64(itemSize))
    let array = try NPYArray(shape: [2, 3], dtype: dtype, data: raw)
    let encoded = NPY.encode(array)
    let headerLength = Int(encoded[8]) | Int(encoded[9]) << 8
    #expect((10 + headerLength) % 64 == 0)
    #expect(encoded[9 + headerLength] == UInt8(ascii: "\n"))
    #expect(try NPY.read(data: encoded, name: "a.npy") == array)
}

@Test func helperInitialisersMakeTheExpectedDtypes() throws {
    let floats = NPYArray(float32: [1.5, -2, 0.25, 8], shape: [2, 2])
    #expect(floats.dtype == "<f4")
    #expect(floats.data.prefix(4) == [0x00, 0x00, 0xC0, 0x3F])  // 1.5f little-endian
    #expect(try floats.floats() == [1.5, -2, 0.25, 8])
    let longs = NPYArray(int64: [-1, 3])
    #expect(longs.dtype == "<i8" && longs.shape == [2])
    #expect(try longs.integers() == [-1, 3])
    let pixels = NPYArray(uint8: [0, 255], shape: [1, 2])
    #expect(pixels.dtype == "|u1")
    #expect(try pixels.floats() == [0, 255])
    let tensor = Tensor(shape: [2, 1], scalars: [3, 4])
    #expect(NPYArray(tensor) == NPYArray(float32: [3, 4], shape: [2, 1]))
    #expect(try NPY.read(data: NPY.encode(floats), name: "f.npy") == floats)
}

@Test func elementConversionsUseLittleEndianValues() throws {
    #expect(try NPYArray(shape: [2], dtype: "|i1", data: [0xFF, 0x7F]).integers() == [-1, 127])
    #expect(try NPYArray(shape: [1], dtype: "<i4", data: [0xFE, 0xFF, 0xFF, 0xFF]).integers() == [-2])
    #expect(try NPYArray(shape: [1], dtype: "<u2", data: [0x01, 0x02]).integers() == [513])
    #expect(try NPYArray(shape: [1], dtype: "<f8", data: [0, 0, 0, 0, 0, 0, 0xF8, 0x3F]).floats() == [1.5])
    #expect(try NPYArray(shape: [1], dtype: "<i8", data: [0x10, 0x27, 0, 0, 0, 0, 0, 0]).floats() == [10000])
    expectShrinkError(.format, containing: ["<f4", "integer"]) {
        _ = try NPYArray(float32: [1]).integers()
    }
    expectShrinkError(.value, containing: ["above Int64.max"]) {
        _ = try NPYArray(shape: [1], dtype: "<u8", data: Array(repeating: 0xFF, count: 8)).integers()
    }
}

@Test func dtypeSpellingsAreCanonicalised() throws {
    #expect(try NPYArray(shape: [1], dtype: "<u1", data: [7]).dtype == "|u1")
    #expect(try NPYArray(shape: [1], dtype: "=f4", data: [0, 0, 0, 0]).dtype == "<f4")
    #expect(try NPYArray(shape: [1], dtype: ">i1", data: [7]).dtype == "|i1")
    expectShrinkError(.unsupported, containing: [">f4", "big-endian"]) {
        _ = try NPYArray(shape: [1], dtype: ">f4", data: [0, 0, 0, 0])
    }
    expectShrinkError(.unsupported, containing: ["<c8", "not supported"]) {
        _ = try NPYArray(shape: [1], dtype: "<c8", data: Array(repeating: 0, count: 8))
    }
    expectShrinkError(.shape, containing: ["needs 8 bytes, got 4"]) {
        _ = try NPYArray(shape: [2], dtype: "<f4", data: [0, 0, 0, 0])
    }
}

@Test func scalarAndEmptyShapesRoundTrip() throws {
    let scalar = NPYArray(float32: [42], shape: [])
    #expect(try NPY.read(data: NPY.encode(scalar), name: "s.npy") == scalar)
    let empty = NPYArray(int64: [], shape: [0, 5])
    #expect(try NPY.read(data: NPY.encode(empty), name: "e.npy") == empty)
}

@Test func headerVariantsNumpyHasWrittenAreRead() throws {
    let data: [UInt8] = [1, 2, 3]
    // Python 2 longs, double quotes, another key order, no trailing comma, a list for the shape.
    for header in ["{'descr': '|u1', 'fortran_order': False, 'shape': (3L,), }",
                   "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|u1\"}",
                   "{'descr':'|u1','fortran_order':False,'shape':[3]}"] {
        let array = try NPY.read(data: handMadeNPY(header, data: data), name: "v.npy")
        #expect(array.shape == [3] && array.dtype == "|u1" && array.data == data)
    }
    let version2 = handMadeNPY("{'descr': '<i2', 'fortran_order': False, 'shape': (1, 1), }", data: [5, 0], major: 2)
    #expect(try NPY.read(data: version2, name: "v2.npy").integers() == [5])
}

@Test func truncatedNPYIsAnError() {
    let encoded = NPY.encode(NPYArray(float32: [1, 2, 3]))
    expectShrinkError(.format, containing: ["t.npy", "truncated NPY data", "needs 12 bytes", "holds 11"]) {
        _ = try NPY.read(data: Array(encoded.dropLast()), name: "t.npy")
    }
    expectShrinkError(.format, containing: ["h.npy", "truncated NPY header"]) {
        _ = try NPY.read(data: Array(encoded.prefix(40)), name: "h.npy")
    }
    expectShrinkError(.format, containing: ["x.npy", "extra data"]) {
        _ = try NPY.read(data: encoded + [0], name: "x.npy")
    }
}

@Test func badHeadersAreErrors() {
    expectShrinkError(.format, containing: ["m.npy", "not an NPY file"]) {
        _ = try NPY.read(data: Array("PK\u{3}\u{4} not numpy".utf8), name: "m.npy")
    }
    expectShrinkError(.format, containing: ["b.npy", "bad NPY header"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", data: []), name: "b.npy")
    }
    expectShrinkError(.format, containing: ["k.npy", "fortran_order"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': '<f4', 'shape': (0,)}", data: []), name: "k.npy")
    }
    expectShrinkError(.format, containing: ["s.npy", "'shape'"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", data: []),
                         name: "s.npy")
    }
    expectShrinkError(.format, containing: ["n.npy", "unknown name 'array'"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': array, 'fortran_order': False, 'shape': ()}", data: []),
                         name: "n.npy")
    }
    expectShrinkError(.unsupported, containing: ["f.npy", "Fortran"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': '<f4', 'fortran_order': True, 'shape': (1,)}", data: [0, 0, 0, 0]),
                         name: "f.npy")
    }
    expectShrinkError(.unsupported, containing: ["r.npy", "structured"]) {
        _ = try NPY.read(data: handMadeNPY("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
                                           data: [0, 0, 0, 0]), name: "r.npy")
    }
    expectShrinkError(.unsupported, containing: ["v.npy", "version 4.0"]) {
        var file = handMadeNPY("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", data: [0, 0, 0, 0])
        file[6] = 4
        _ = try NPY.read(data: file, name: "v.npy")
    }
}
