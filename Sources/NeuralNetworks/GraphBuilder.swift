// GraphBuilder: appends named layers while tracking shapes, so architectures size each layer from the one before.
import Tensors

/// Builds a graph node by node. By default each node reads the previous one, which covers chains (`Sequential`);
/// pass `inputs` for branches, residual adds and concats.
public struct GraphBuilder {
    public let inputShape: [Int]
    public private(set) var nodes: [Node] = []
    private var shapes: [String: [Int]]
    /// The name of the most recently added node (or `input`).
    public private(set) var last: String = Graph.inputName
    /// The per-sample output shape of the last node (or of `input`).
    public private(set) var currentShape: [Int]

    public init(inputShape: [Int]) {
        self.inputShape = inputShape
        self.shapes = [Graph.inputName: inputShape]
        self.currentShape = inputShape
    }

    /// The per-sample output shape of a node added so far (or of `input`).
    ///
    /// - Throws: `ShrinkError(.unknownName)` naming `name` when no node of that name has been added.
    public func shape(of name: String) throws -> [Int] {
        guard let shape = shapes[name] else {
            throw ShrinkError(.unknownName, "the graph being built has no node named '\(name)' (so far: "
                + ([Graph.inputName] + nodes.map(\.name)).joined(separator: ", ") + ")")
        }
        return shape
    }

    /// Appends a node; throws when the layer does not accept its inputs' shapes.
    @discardableResult
    public mutating func add(_ name: String, _ layer: any Layer, inputs: [String]? = nil) throws -> String {
        let inputs = inputs ?? [last]
        guard shapes[name] == nil else { throw ShrinkError(.value, "node name '\(name)' is used twice") }
        let inputShapes = try inputs.map { input in
            guard let shape = shapes[input] else {
                throw ShrinkError(.unknownName, "node '\(name)' reads '\(input)', which is no node added so far")
            }
            return shape
        }
        let shape: [Int]
        do {
            shape = try layer.outputShape(for: inputShapes)
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "node '\(name)': \(error.message)")
        }
        shapes[name] = shape
        nodes.append(Node(name: name, layer: layer, inputs: inputs))
        last = name
        currentShape = shape
        return name
    }

    /// The finished graph, whose output is the last node.
    public func build() throws -> Graph { try Graph(inputShape: inputShape, nodes: nodes) }
}
