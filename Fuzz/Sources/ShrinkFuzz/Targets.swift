// The fuzz targets: each takes one input of bytes and hands it to a reader as a user's file would reach it. A reader
// may refuse the input with a `ShrinkError` (that is its job); a crash, a hang, a leak of memory past libFuzzer's
// limits or any other error type is a finding. The target is picked by the environment variable SHRINK_FUZZ_TARGET.
import CFuzzDriver
import Foundation
import Shrink

/// One fuzz target: a name (the corpus directory's) and what it does with an input.
struct FuzzTarget: Sendable {
    var name: String
    var reader: String
    var run: @Sendable ([UInt8]) throws -> Void
}

/// A scratch file per process for readers that take a path; rewritten for every input.
let scratchDirectory: String = {
    let base = ProcessInfo.processInfo.environment["SHRINK_FUZZ_SCRATCH"] ?? NSTemporaryDirectory()
    let path = "\(base)/shrink-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path + "/journal", withIntermediateDirectories: true)
    return path
}()

func scratch(_ bytes: [UInt8], named name: String) -> String {
    let path = "\(scratchDirectory)/\(name)"
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// Reads a few batches of both splits the way training and evaluation do.
func touch(_ split: DataSplit) throws {
    for dataset in [split.train, split.test] where dataset.count > 0 {
        let indices = Array(0..<min(dataset.count, 3))
        _ = try dataset.batch(indices)
        _ = try dataset.batch(indices, epoch: 1, seed: 7)
    }
}

let targets: [FuzzTarget] = [
    FuzzTarget(name: "safetensors", reader: "safetensors container (header JSON, dtypes, offsets)") { bytes in
        let file = try SafeTensorsFile.decode(bytes, file: "input.safetensors")
        for (name, tensor) in file.tensors where tensor.dtype == "F32" {
            _ = try tensor.floatTensor(name: name, file: "input.safetensors")
        }
    },
    FuzzTarget(name: "model", reader: "model files: graph and layer specs, tensors (float, integer, weight-only)") { bytes in
        _ = try ShrinkModel(bytes: bytes, origin: "input.safetensors")
    },
    FuzzTarget(name: "onnx", reader: "ONNX import (protobuf, graph, initializers, attributes)") { bytes in
        _ = try importONNX(bytes, file: "input.onnx")
    },
    FuzzTarget(name: "npy", reader: "NPY header and array") { bytes in
        _ = try NPY.read(data: bytes, name: "input.npy")
    },
    FuzzTarget(name: "npz", reader: "NPZ in memory: ZIP directory, deflate members, NPY arrays") { bytes in
        _ = try NPZ.read(data: bytes, name: "input.npz")
    },
    FuzzTarget(name: "npz-data", reader: "an .npz data file read as training data (file-backed members, labels)") { bytes in
        try touch(try DataSource.load(scratch(bytes, named: "data.npz")))
    },
    FuzzTarget(name: "inflate", reader: "zlib/gzip/raw deflate") { bytes in
        guard let first = bytes.first else { return }
        let format: Zlib.Format = first % 3 == 0 ? .raw : first % 3 == 1 ? .zlib : .gzip
        _ = try Zlib.inflate(Array(bytes.dropFirst()), format: format, name: "input")
    },
    FuzzTarget(name: "idx", reader: "IDX files, plain or gzip") { bytes in
        _ = try IDX.read(data: bytes, name: "input.idx")
    },
    FuzzTarget(name: "recipe", reader: "recipe YAML") { bytes in
        _ = try Recipe.parse(String(decoding: bytes, as: UTF8.self), file: "input.yaml")
    },
    FuzzTarget(name: "search-space", reader: "search-space YAML/JSON") { bytes in
        _ = try SearchSpace.parse(String(decoding: bytes, as: UTF8.self), file: "input.yaml")
    },
    FuzzTarget(name: "data-spec", reader: "data specs (PATH?options) from the command line and recipes") { bytes in
        _ = try DataSpec(parsing: String(decoding: bytes, as: UTF8.self))
    },
    FuzzTarget(name: "journal", reader: "search journal (JSON lines: trials and timings of every worker)") { bytes in
        _ = scratch(bytes, named: "journal/journal-0-of-1.jsonl")
        _ = scratch(bytes, named: "journal/timing-0-of-1.jsonl")
        let journal = try Journal(directory: "\(scratchDirectory)/journal")
        _ = try? journal.trials()
        _ = try journal.timings()
    },
    FuzzTarget(name: "image", reader: "JPEG and PNG files (libjpeg-turbo, libpng)") { bytes in
        let path = scratch(bytes, named: "image")
        let info = try ImageDecoder.info(path)
        // Decoding is bounded by the header's size; keep each input's work small.
        guard info.width * info.height <= 1 << 20 else { return }
        _ = try ImageDecoder.decode(path, channels: info.channels, atLeast: (8, 8))
    },
]

let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["SHRINK_FUZZ_TARGET"] ?? ""
    guard let target = targets.first(where: { $0.name == name }) else {
        let names = targets.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("SHRINK_FUZZ_TARGET must be one of: \(names) (got '\(name)')\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try selected.run(bytes)
    } catch is ShrinkError {
        // A refusal with a message: what a reader should do with bad input.
    } catch {
        FileHandle.standardError.write(Data("\(selected.name): an error that is not a ShrinkError: \(error)\n".utf8))
        abort()
    }
    return 0
}

/// The program's entry (SwiftPM links an executable's entry point under this name): libFuzzer's driver over `fuzzOne`.
@_cdecl("ShrinkFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    if let directory = ProcessInfo.processInfo.environment["SHRINK_FUZZ_WRITE_SEEDS"] {
        do { try writeSeeds(to: directory) } catch {
            FileHandle.standardError.write(Data("writing the seeds failed: \(error)\n".utf8))
            return 1
        }
        return 0
    }
    _ = selected
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
