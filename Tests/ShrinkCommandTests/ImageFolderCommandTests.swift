// The `shrink` binary on an image folder drawn by Python's Pillow (Scripts/make-image-folder.py: circles, squares and
// triangles in JPEG and PNG, some grey, plus corrupt files): corrupt files stop training with an error naming the
// file, --skip-corrupt leaves them out, a trained model predicts the held-out shapes by name, and the names are in
// the model file.
import Foundation
import Testing

/// Writes the shapes folder with the repository's generator; its root.
func writeShapesFolder(corrupt: Int) throws -> String {
    let root = try temporaryDirectory() + "/shapes"
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scripts/make-image-folder.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = [script, "--out", root, "--classes", "3", "--train-per-class", "150", "--test-per-class", "30",
                         "--size", "32", "--format", "mixed", "--grey-share", "0.1", "--corrupt", "\(corrupt)",
                         "--seed", "4", "--jobs", "1"]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw FixtureError("make-image-folder.py failed: \(String(decoding: stderr, as: UTF8.self))")
    }
    return root
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Test func trainingOnAnImageFolderPredictsTheShapesByName() throws {
    let root = try writeShapesFolder(corrupt: 2)
    let out = try temporaryDirectory() + "/shapes.safetensors"
    let arguments = ["train", "--arch", "fmnist-cnn", "--data", root, "--epochs", "4", "--seed", "1", "--threads", "2",
                     "--batch-size", "32", "--optimizer", "adam", "--out", out]
    // A corrupt file stops training before it starts, naming the file; nothing is written.
    expectFailure(try shrink(arguments), mentioning: "\(root)/train/circle/corrupt-", noFile: out)
    let trained = try shrink(arguments + ["--skip-corrupt", "--augment", "flip"])
    #expect(trained.status == 0, "\(trained.stderr)")
    #expect(trained.stderr.contains("skipped 2 images that did not decode"), "\(trained.stderr)")

    // The held-out images, predicted by name: well above the third a guess gets.
    let predicted = try shrink(["predict", out, "--data", root + "?skip_corrupt", "--limit", "90", "--json"])
    #expect(predicted.status == 0, "\(predicted.stderr)")
    struct Prediction: Decodable {
        struct Ranked: Decodable { var name: String; var probability: Double }
        var input: String, classes: [Ranked], label: String?
    }
    let predictions = try JSONDecoder().decode([Prediction].self, from: Data(predicted.stdout.utf8))
    #expect(predictions.count == 90)
    #expect(Set(predictions.compactMap(\.label)) == ["circle", "square", "triangle"])
    let correct = predictions.filter { $0.classes.first?.name == $0.label }.count
    #expect(correct >= 72, "\(correct) of 90 test shapes predicted right")

    // Image files on the command line, by name; the names are in the model file.
    let files = ["\(root)/test/square/000000.png", "\(root)/test/triangle/000001.jpg"]
    let named = try shrink(["predict", out] + files + ["--top", "3"])
    #expect(named.status == 0, "\(named.stderr)")
    for file in files { #expect(named.stdout.contains("\(file): "), "\(named.stdout)") }
    #expect(["circle", "square", "triangle"].allSatisfy { named.stdout.contains("\($0) ") }, "\(named.stdout)")
    let info = try shrink(["info", out])
    #expect(info.stdout.contains("classes: circle, square, triangle"), "\(info.stdout)")
    expectFailure(try shrink(["predict", out, root + "/train/circle/corrupt-text-1.png"]),
                  mentioning: "\(root)/train/circle/corrupt-text-1.png: not a JPEG or PNG")
}

@Test func imageDataOptionsAreCheckedBeforeAnyWork() throws {
    let out = try temporaryDirectory() + "/never.safetensors"
    expectUsageError(try shrink(["train", "--arch", "mlp", "--data", "fashion-mnist", "--image-size", "0", "--out", out]),
                     mentioning: "size=0", noFile: out)
    expectUsageError(try shrink(["train", "--arch", "mlp", "--data", "fashion-mnist?colour=1", "--out", out]),
                     mentioning: "unknown option 'colour'", noFile: out)
    expectFailure(try shrink(["train", "--arch", "mlp", "--data", "fashion-mnist", "--image-size", "32", "--out", out]),
                  mentioning: "apply to image folders", noFile: out)
    expectUsageError(try shrink(["train", "--arch", "mlp", "--data", "fashion-mnist", "--mean", "0.5", "--out", out]),
                     mentioning: "--mean and --std go together", noFile: out)
}
