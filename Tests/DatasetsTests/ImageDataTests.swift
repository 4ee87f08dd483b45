// Tests of image data: JPEG and PNG decoding against Pillow's pixels, resizing, image folders and lists (classes,
// sizes, corrupt files), data spec options, augmentation, arrays read from NPY files as needed, and normalisation
// fitted a batch at a time. Images are written by Python's Pillow (Debian's python3-pil, which the test script
// installs).
import CImageCodecs
import Datasets
import Foundation
import Testing
import Tensors

/// Runs a Python script (Pillow and numpy available) in `directory`; its stdout.
@discardableResult
func python(_ script: String, in directory: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script]
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ShrinkError(.io, "python failed: \(String(decoding: stderr, as: UTF8.self))")
    }
    return String(decoding: stdout, as: UTF8.self)
}

/// The Float32 values of an .npy of uint8 pixels (H, W[, C]) as channel-major planes divided by 255.
func pillowPlanes(_ path: String) throws -> [Float] {
    let array = try NPY.read(contentsOf: path)
    let (h, w) = (array.shape[0], array.shape[1]), c = array.shape.count == 3 ? array.shape[2] : 1
    var planes = [Float](repeating: 0, count: c * h * w)
    for y in 0..<h { for x in 0..<w { for k in 0..<c {
        planes[k * h * w + y * w + x] = Float(array.data[(y * w + x) * c + k]) / 255
    } } }
    return planes
}

@Test func pngAndJPEGDecodeToPillowsPixels() throws {
    try withTemporaryDirectory { directory in
        try python("""
            import numpy as np
            from PIL import Image
            rng = np.random.default_rng(3)
            rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            Image.fromarray(rgb).save('rgb.png')
            Image.fromarray(rgb[:, :, 0]).save('grey.png')
            Image.fromarray(rgb).save('rgb.jpg', quality=90)
            np.save('rgb.npy', rgb)
            np.save('grey.npy', rgb[:, :, 0])
            np.save('jpeg.npy', np.asarray(Image.open('rgb.jpg').convert('RGB')))
            rgba = np.dstack([rgb, np.array([[0, 255] * 4][0][:7] * 5, dtype=np.uint8).reshape(5, 7)])
            Image.fromarray(rgba, 'RGBA').save('rgba.png')
            np.save('rgba.npy', rgba)
            Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257), 'I;16').save('grey16.png')
            """, in: directory)
        let png = try ImageDecoder.decode(directory + "/rgb.png", channels: 3)
        #expect(png.shape == [3, 5, 7])
        #expect(png.values == (try pillowPlanes(directory + "/rgb.npy")))
        let grey = try ImageDecoder.decode(directory + "/grey.png", channels: 1)
        #expect(grey.values == (try pillowPlanes(directory + "/grey.npy")))
        // Grey widened to RGB repeats the plane.
        let widened = try ImageDecoder.decode(directory + "/grey.png", channels: 3)
        #expect(Array(widened.values[0..<35]) == grey.values && Array(widened.values[70..<105]) == grey.values)
        #expect(try ImageDecoder.info(directory + "/grey.png") == .init(width: 7, height: 5, channels: 1))
        #expect(try ImageDecoder.info(directory + "/rgb.jpg") == .init(width: 7, height: 5, channels: 3))
        // libjpeg-turbo decodes as Pillow's libjpeg does.
        let jpeg = try ImageDecoder.decode(directory + "/rgb.jpg", channels: 3)
        let reference = try pillowPlanes(directory + "/jpeg.npy")
        #expect(zip(jpeg.values, reference).allSatisfy { abs($0 - $1) <= 1.0 / 255 + 1e-6 })
        // Alpha is composited on black: a transparent pixel is 0, an opaque one keeps its colour.
        let rgba = try ImageDecoder.decode(directory + "/rgba.png", channels: 3)
        let rgbaArray = try NPY.read(contentsOf: directory + "/rgba.npy")
        for pixel in 0..<35 {
            let alpha = rgbaArray.data[pixel * 4 + 3]
            let expected = alpha == 0 ? 0 : Float(rgbaArray.data[pixel * 4]) / 255
            #expect(abs(rgba.values[pixel] - expected) < 1e-6, "pixel \(pixel) alpha \(alpha)")
        }
        // 16-bit grey is reduced to 8 bits.
        let deep = try ImageDecoder.decode(directory + "/grey16.png", channels: 1)
        #expect(zip(deep.values, grey.values).allSatisfy { abs($0 - $1) <= 1.0 / 255 + 1e-6 })
    }
}

@Test func corruptImagesAreErrorsNamingTheFile() throws {
    try withTemporaryDirectory { directory in
        try python("""
            from PIL import Image
            Image.new('RGB', (64, 48), (200, 30, 30)).save('whole.jpg', quality=90)
            data = open('whole.jpg', 'rb').read()
            open('cut.jpg', 'wb').write(data[: len(data) * 4 // 10])
            open('text.png', 'wb').write(b'not an image')
            Image.new('RGB', (8, 8)).save('whole.png')
            png = open('whole.png', 'rb').read()
            open('cut.png', 'wb').write(png[: len(png) // 2])
            """, in: directory)
        for name in ["cut.jpg", "cut.png"] {
            expectShrinkError(.format, containing: [directory + "/" + name, "corrupt"]) {
                _ = try ImageDecoder.decode(directory + "/" + name, channels: 3)
            }
        }
        expectShrinkError(.format, containing: [directory + "/text.png", "not a JPEG or PNG"]) {
            _ = try ImageDecoder.info(directory + "/text.png")
        }
        expectShrinkError(.io, containing: [directory + "/missing.png"]) {
            _ = try ImageDecoder.info(directory + "/missing.png")
        }
    }
}

@Test func resamplingKeepsIdentityAndAveragesWhenShrinking() throws {
    let source: [Float] = (0..<16).map(Float.init)  // 4×4, one channel
    var same = [Float](repeating: -1, count: 16)
    #expect(ci_resample_planes(source, 1, 4, 4, 0, 0, 4, 4, &same, 4, 4) == 0)
    #expect(same == source)
    // Halving averages each 2×2 block (the filter spans the block).
    var half = [Float](repeating: 0, count: 4)
    #expect(ci_resample_planes([Float](repeating: 0.25, count: 16), 1, 4, 4, 0, 0, 4, 4, &half, 2, 2) == 0)
    #expect(half.allSatisfy { abs($0 - 0.25) < 1e-6 })
    #expect(ci_resample_planes(source, 1, 4, 4, 0, 0, 4, 4, &half, 2, 2) == 0)
    // Symmetric taps: the mean of the outputs is the mean of the inputs, and the order is kept.
    #expect(abs(half.reduce(0, +) / 4 - 7.5) < 1e-4)
    #expect(half[0] < half[1] && half[1] < half[2] && half[2] < half[3])
    // A box: the left half of a left-dark, right-bright image stays dark.
    let split: [Float] = (0..<16).map { $0 % 4 < 2 ? 0 : 1 }
    var left = [Float](repeating: 0, count: 4)
    #expect(ci_resample_planes(split, 1, 4, 4, 0, 0, 1, 4, &left, 4, 1) == 0)
    #expect(left.allSatisfy { $0 == 0 })
}

/// An image folder of `perClass` 12×10 PNG/JPEG images per class in train/ and 3 in test/, each class's images a
/// flat colour (red, green, blue), so every pixel says the class.
func writeImageFolder(_ root: String, classes: [String] = ["cat", "dog"], perClass: Int = 4,
                      testDirectory: String = "test") throws {
    try python("""
        from PIL import Image
        import os
        colours = [(220, 20, 20), (20, 220, 20), (20, 20, 220)]
        for split, n in (('train', \(perClass)), ('\(testDirectory)', 3)):
            for c, name in enumerate(\(classes)):
                os.makedirs(f'{split}/{name}', exist_ok=True)
                for i in range(n):
                    ext = 'png' if i % 2 == 0 else 'jpg'
                    Image.new('RGB', (12, 10), colours[c]).save(f'{split}/{name}/{i:03d}.{ext}')
        """, in: root)
}

@Test func imageFolderGivesClassesByDirectoryName() throws {
    try withTemporaryDirectory { root in
        try writeImageFolder(root, classes: ["zebra", "ant", "moth"])
        let split = try DataSource.load(root)
        #expect(split.classNames == ["ant", "moth", "zebra"])
        #expect(split.train.classCount == 3 && split.test.classCount == 3)
        #expect(split.train.count == 12 && split.test.count == 9)
        // One fixed shuffled order, so any slice of the split mixes the classes.
        #expect(split.train.labels.sorted() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        #expect(split.train.labels != split.train.labels.sorted())
        #expect(try DataSource.load(root).train.labels == split.train.labels)
        #expect(split.train.sampleShape == [3, 10, 12])
        #expect(split.train.source.residentBytes < 10_000)
        // The "ant" images are green: the green plane is bright, the others dark.
        let ant = try #require(split.train.labels.firstIndex(of: 0))
        let (inputs, _) = try split.train.batch([ant])
        let plane = 120
        #expect(inputs.scalars[plane..<(2 * plane)].allSatisfy { abs($0 - 220.0 / 255) < 3.0 / 255 })
        #expect(inputs.scalars[0..<plane].allSatisfy { $0 < 30.0 / 255 })
        // A size and grey: read at 5×6 in one channel.
        let small = try DataSource.load(root + "?size=5x6&channels=1")
        #expect(small.train.sampleShape == [1, 5, 6])
        #expect(try small.train.batch([0, 11]).inputs.shape == [2, 1, 5, 6])
        // Meeting a model of another size resizes images given no size, but not a given one.
        #expect(split.train.conformed(to: [3, 8, 8]).sampleShape == [3, 8, 8])
        #expect(small.train.conformed(to: [1, 8, 8]).sampleShape == [1, 5, 6])
    }
}

@Test func imageFolderErrorsNameTheFileOrDirectory() throws {
    try withTemporaryDirectory { root in
        try writeImageFolder(root)
        // A corrupt file is an error naming it; with skip_corrupt it is left out and counted.
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: root + "/train/cat/zz-bad.png"))
        expectShrinkError(.format, containing: [root + "/train/cat/zz-bad.png", "not a JPEG or PNG"]) {
            _ = try DataSource.load(root)
        }
        let skipped = try DataSource.load(root + "?skip_corrupt")
        #expect(skipped.train.count == 8)
        #expect(skipped.notes.contains { $0.contains("skipped 1 image") && $0.contains("zz-bad.png") })
        try FileManager.default.removeItem(atPath: root + "/train/cat/zz-bad.png")
        // A test class that training lacks.
        try FileManager.default.createDirectory(atPath: root + "/test/cow", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/test/cat/000.png", toPath: root + "/test/cow/000.png")
        expectShrinkError(.format, containing: [root + "/test/cow", "not a class"]) { _ = try DataSource.load(root) }
        try FileManager.default.removeItem(atPath: root + "/test/cow")
        // Options that apply to images only, and unknown options.
        expectShrinkError(.value, containing: ["unknown option 'colour'"]) { _ = try DataSource.load(root + "?colour=1") }
        expectShrinkError(.value, containing: ["size=0"]) { _ = try DataSource.load(root + "?size=0") }
        try FileManager.default.removeItem(atPath: root + "/test")
        expectShrinkError(.io, containing: [root, "no test/ or val/"]) { _ = try DataSource.load(root) }
    }
}

@Test func mixedSizesAreReadAtTheMostCommonOneWithANote() throws {
    try withTemporaryDirectory { root in
        try writeImageFolder(root)
        try python("from PIL import Image\nImage.new('RGB', (30, 20), (9, 9, 9)).save('train/dog/big.png')", in: root)
        let split = try DataSource.load(root)
        #expect(split.train.sampleShape == [3, 10, 12])
        #expect(split.notes.contains { $0.contains("2 sizes") && $0.contains("10×12") })
        #expect(try split.train.batch([split.train.count - 1]).inputs.shape == [1, 3, 10, 12])
    }
}

@Test func imageListsReadPathsAndLabels() throws {
    try withTemporaryDirectory { root in
        try writeImageFolder(root, testDirectory: "val")
        try "path,label\ntrain/dog/000.png,dog\n\"train/cat/001.jpg\",cat\ntrain/cat/000.png,cat\n"
            .write(toFile: root + "/train.csv", atomically: true, encoding: .utf8)
        try #"[{"path": "val/dog/000.png", "label": "dog"}]"#.write(toFile: root + "/val.json", atomically: true,
                                                                    encoding: .utf8)
        // The folder wins when both are there; lists alone are read as lists.
        try FileManager.default.moveItem(atPath: root + "/train", toPath: root + "/images-train")
        try FileManager.default.moveItem(atPath: root + "/val", toPath: root + "/images-val")
        try String(contentsOfFile: root + "/train.csv", encoding: .utf8).replacingOccurrences(of: "train/", with: "images-train/")
            .write(toFile: root + "/train.csv", atomically: true, encoding: .utf8)
        try "path,label\nimages-val/dog/000.png,dog\nimages-val/cat/000.png,cat\n"
            .write(toFile: root + "/val.csv", atomically: true, encoding: .utf8)
        let split = try DataSource.load(root)
        #expect(split.classNames == ["cat", "dog"])
        #expect(split.train.labels.sorted() == [0, 0, 1] && split.test.labels.sorted() == [0, 1])
        // Each listed file keeps its label.
        let paths = try #require(split.train.source as? ImageFileSamples).paths
        for (path, label) in zip(paths, split.train.labels) { #expect(path.contains(label == 0 ? "/cat/" : "/dog/")) }
        try "path,label\nimages-val/dog/000.png,horse\n".write(toFile: root + "/val.csv", atomically: true, encoding: .utf8)
        expectShrinkError(.format, containing: [root + "/val.csv", "horse"]) { _ = try DataSource.load(root) }
    }
}

@Test func dataSpecOptionsParseAndPrintCanonically() throws {
    let spec = try DataSpec(parsing: "photos?flip&size=96&pad-crop&resized_crop=0.25&channels=1&skip_corrupt=false")
    #expect(spec.path == "photos" && spec.imageSize == [96, 96] && spec.channels == 1 && !spec.skipCorrupt)
    #expect(spec.augmentation == Augmentation(resizedCropScale: 0.25, flip: true, padCrop: 4))
    #expect(spec.description == "photos?size=96&channels=1&resized_crop=0.25&flip&pad_crop=4")
    #expect(try DataSpec(parsing: "x?size=120x160").imageSize == [120, 160])
    #expect(try DataSpec(parsing: "fashion-mnist").description == "fashion-mnist")
    for bad in ["x?size=0", "x?size=ax3", "x?channels=2", "x?flip=maybe", "x?resized_crop=1.5", "x?pad_crop=-1", "?flip"] {
        #expect(throws: ShrinkError.self, "\(bad)") { _ = try DataSpec(parsing: bad) }
    }
    // Options for image files on arrays are refused; augmentation needs images.
    try withTemporaryDirectory { directory in
        try writeIDXDirectory(directory)
        expectShrinkError(.value, containing: ["size, channels and skip_corrupt apply to image folders"]) {
            _ = try DataSource.load(directory + "?size=8")
        }
        let augmented = try DataSource.load(directory + "?flip")
        #expect(augmented.train.augmentation?.flip == true && augmented.test.augmentation == nil)
    }
}

/// A dataset of `n` 1×4×6 images whose pixel values are their positions.
func positionImages(_ n: Int) throws -> Dataset {
    let values = (0..<(n * 24)).map { Float($0 % 24) / 24 }
    return try Dataset(inputs: Tensor(shape: [n, 1, 4, 6], scalars: values), labels: [Int32](repeating: 0, count: n),
                       classCount: 1)
}

@Test func augmentationIsSeededPerSampleAndEpoch() throws {
    var data = try positionImages(16)
    data.augmentation = Augmentation(resizedCropScale: 0.3, flip: true, padCrop: 2)
    let a = try data.batch(0..<16, epoch: 0, seed: 7).inputs
    // Same seed, epoch and samples: the same batch, whatever the order or grouping of the batch.
    #expect(try data.batch(0..<16, epoch: 0, seed: 7).inputs == a)
    let reversed = try data.batch((0..<16).reversed(), epoch: 0, seed: 7).inputs
    #expect(Array(reversed.scalars[0..<24]) == Array(a.scalars[(15 * 24)..<(16 * 24)]))
    let threaded = try Parallel.withThreads(1) { try data.batch(0..<16, epoch: 0, seed: 7).inputs }
    #expect(threaded == a)
    // Another epoch or seed draws again; plain batches are not augmented.
    #expect(try data.batch(0..<16, epoch: 1, seed: 7).inputs != a)
    #expect(try data.batch(0..<16, epoch: 0, seed: 8).inputs != a)
    #expect(try data.batch(0..<16).inputs == (try positionImages(16).inputs))
}

@Test func flipAndPadCropMoveWholePixels() throws {
    var data = try positionImages(64)
    data.augmentation = Augmentation(flip: true)
    let original = try positionImages(1).inputs.scalars
    let mirrored: [Float] = (0..<24).map { (p: Int) -> Float in original[(p / 6) * 6 + 5 - p % 6] }
    let flipped = try data.batch(0..<64, epoch: 0, seed: 1).inputs.scalars
    var flips = 0
    for k in 0..<64 {
        let sample = Array(flipped[(k * 24)..<((k + 1) * 24)])
        #expect(sample == original || sample == mirrored)
        if sample == mirrored { flips += 1 }
    }
    #expect(flips > 16 && flips < 48, "\(flips) of 64 flipped")
    data.augmentation = Augmentation(padCrop: 1)
    let shifted = try data.batch(0..<64, epoch: 0, seed: 1).inputs.scalars
    for k in 0..<64 {
        let sample = Array(shifted[(k * 24)..<((k + 1) * 24)])
        // Each output pixel is a source pixel one step away at most, or padding (0).
        let matches = (-1...1).flatMap { dy in (-1...1).map { dx in (dy, dx) } }.contains { dy, dx in
            (0..<24).allSatisfy { p in
                let y = p / 6 + dy, x = p % 6 + dx
                return sample[p] == ((0..<4).contains(y) && (0..<6).contains(x) ? original[y * 6 + x] : 0)
            }
        }
        #expect(matches, "sample \(k)")
    }
}

@Test func npyDirectoriesAreReadFromTheFileAsNeeded() throws {
    try withTemporaryDirectory { directory in
        let pixels = seededBytes(5 * 4 * 3 * 3)
        try writeFixture(NPY.encode(NPYArray(uint8: pixels, shape: [5, 4, 3, 3])), to: directory + "/x_train.npy")
        try writeFixture(NPY.encode(NPYArray(int64: [0, 1, 2, 1, 0])), to: directory + "/y_train.npy")
        try writeFixture(NPY.encode(NPYArray(float32: [0.5, 0.25, 1, 0] + Array(repeating: 0, count: 32),
                                              shape: [1, 4, 3, 3])), to: directory + "/x_test.npy")
        try writeFixture(NPY.encode(NPYArray(int64: [2])), to: directory + "/y_test.npy")
        let split = try DataSource.load(directory)
        #expect(split.train.source is FileSamples && split.train.source.residentBytes == 0)
        // (N, H, W, C) with C = 3 is channels-last: read as (C, H, W).
        #expect(split.train.sampleShape == [3, 4, 3] && split.train.classCount == 3)
        let sample = try split.train.batch([1]).inputs.scalars
        for y in 0..<4 { for x in 0..<3 { for c in 0..<3 {
            #expect(sample[c * 12 + y * 3 + x] == Float(pixels[36 + (y * 3 + x) * 3 + c]) / 255)
        } } }
        #expect(try split.test.batch([0]).inputs.scalars[0] == 0.5)
        // The same data in an .npz reads the same.
        try NPZ.write([("x_train", NPYArray(uint8: pixels, shape: [5, 4, 3, 3])), ("y_train", NPYArray(int64: [0, 1, 2, 1, 0])),
                       ("x_test", try NPY.read(contentsOf: directory + "/x_test.npy")), ("y_test", NPYArray(int64: [2]))],
                      to: directory + "/same.npz", compressed: true)
        let archive = try DataSource.load(directory + "/same.npz")
        #expect(try archive.train.inputs == (try split.train.inputs))
        #expect(archive.train.source is ArraySamples)
        // Stored uncompressed (numpy.savez), its inputs are read from the archive as needed, like an .npy.
        try NPZ.write([("x_train", NPYArray(uint8: pixels, shape: [5, 4, 3, 3])), ("y_train", NPYArray(int64: [0, 1, 2, 1, 0])),
                       ("x_test", try NPY.read(contentsOf: directory + "/x_test.npy")), ("y_test", NPYArray(int64: [2]))],
                      to: directory + "/stored.npz", compressed: false)
        let stored = try DataSource.load(directory + "/stored.npz")
        #expect(stored.train.source is FileSamples && stored.test.source is FileSamples)
        #expect(try stored.train.inputs == (try split.train.inputs) && stored.train.labels == split.train.labels)
        #expect(try stored.test.inputs == (try split.test.inputs))
        // A NaN in a float file is found when it is loaded.
        try writeFixture(NPY.encode(NPYArray(float32: [0, .nan, 0, 0] + Array(repeating: 0, count: 32), shape: [1, 4, 3, 3])),
                         to: directory + "/x_test.npy")
        expectShrinkError(.value, containing: [directory + "/x_test.npy", "nan"]) { _ = try DataSource.load(directory) }
        // A file shorter than its header says.
        try writeFixture(Array(NPY.encode(NPYArray(uint8: pixels, shape: [5, 4, 3, 3])).dropLast(7)),
                         to: directory + "/x_train.npy")
        expectShrinkError(.format, containing: [directory + "/x_train.npy", "truncated"]) { _ = try DataSource.load(directory) }
    }
}

@Test func normalizationFittedInBatchesMatchesTheWholeTensor() throws {
    var generator = SeededGenerator(seed: 5)
    let values = (0..<(37 * 2 * 3 * 3)).map { _ in generator.nextUniform() * 3 - 1 }
    let tensor = Tensor(shape: [37, 2, 3, 3], scalars: values)
    let bytes = try Dataset(source: ArraySamples(bytes: values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) },
                                                 count: 37, layout: ArrayLayout(dtype: "<f4", sampleShape: [2, 3, 3],
                                                                                channelsLast: false)),
                            labels: [Int32](repeating: 0, count: 37), classCount: 1)
    // Read 5 at a time from a source that holds no tensor: the same bits as the tensor's fit.
    #expect(try Normalization.fit(bytes, batchSize: 5) == Normalization.fit(tensor))
    let perChannel = try Normalization.fit(bytes, perChannel: true, batchSize: 4)
    let first = (0..<37).flatMap { n in values[(n * 18)..<(n * 18 + 9)] }
    let mean = first.reduce(0.0) { $0 + Double($1) } / Double(first.count)
    #expect(abs(Double(perChannel.channelMeans![0]) - mean) < 1e-6)
    var normalized = tensor
    try perChannel.apply(to: &normalized)
    let channel0 = (0..<37).flatMap { n in normalized.scalars[(n * 18)..<(n * 18 + 9)] }
    #expect(abs(channel0.reduce(0, +) / Float(channel0.count)) < 1e-4)
    // Per-channel statistics refuse samples with another channel count.
    var wrong = Tensor(zeros: [1, 3, 2, 2])
    #expect(throws: ShrinkError.self) { try perChannel.apply(to: &wrong) }
    expectShrinkError(.value) { _ = try Normalization(channelMeans: [0, 1], channelStds: [1, 0]) }
    // A dataset normalised as it is read gives what the tensor normalised at once gives.
    var lazy = bytes
    lazy.normalization = perChannel
    #expect(try lazy.batch(0..<37).inputs == normalized)
    #expect(try bytes.normalized(perChannel, holdingUpTo: 0).inputs == normalized)
    #expect(try bytes.normalized(perChannel).inputs == normalized)
}

@Test func batchLoaderReadsTheSameBatchesAheadOrNot() throws {
    var data = try positionImages(20)
    data.augmentation = Augmentation(resizedCropScale: 0.5, flip: true)
    let batches = BatchSchedule(count: 20, batchSize: 6, seed: 3).batches(epoch: 2)
    func all(_ ahead: Bool) throws -> [Tensor] {
        let loader = BatchLoader(data, batches: batches, epoch: 2, seed: 9, readAhead: ahead)
        var result: [Tensor] = []
        while let batch = try loader.next() { result.append(batch.inputs) }
        return result
    }
    let direct = try all(false)
    #expect(direct.count == 4 && direct.map { $0.shape[0] } == [6, 6, 6, 2])
    #expect(try all(true) == direct)
    #expect(direct[0] == (try data.batch(batches[0], epoch: 2, seed: 9).inputs))
}
