// ObserverChoice: an observer the quantization passes can make, by name — one of the built-in kinds or a user's own
// `Observer` behind a factory — so that the post-training search, calibration, weight quantization and mixed precision
// take user-defined observers with no edit of Shrink (the role of PyTorch's `qconfig` observer constructors).
// A choice is its name: settings, reports and provenance record the name, and a built-in's name is its
// `ObserverKind.rawValue`, so their JSON is what it was before custom observers existed.
import Tensors

/// An observer the passes can make: a built-in `ObserverKind`, or a user-defined `Observer` made by a factory.
///
/// ```swift
/// let fixed = ObserverChoice.custom(name: "fixed-range") { axis in FixedRangeObserver(axis: axis) }
/// let search = try QuantizationSearch(observers: [.minmax, fixed])
/// ```
///
/// The factory is called for a fresh observer each time one is needed: once per edge in calibration (per tensor,
/// `axis == nil`), once per weight tensor in weight quantization (`axis == 0` per channel, nil per tensor). It must
/// return an observer with the `axis` it was given (checked: a mismatch throws). A custom observer ends, as the
/// built-ins do, in `QuantizationParameters.compute(minimums:maximums:axis:bits:signed:symmetric:narrowRange:)`.
///
/// Two choices are equal when their names are. Encoded, a choice is its name (a JSON string); decoding knows only the
/// built-in names, since a factory cannot be read back from a file.
public struct ObserverChoice: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The name recorded in settings, reports and provenance: `ObserverKind.rawValue` for a built-in.
    public let name: String
    /// The built-in kind; nil for a custom observer.
    public let kind: ObserverKind?
    private let factory: @Sendable (_ axis: Int?) -> any Observer

    private init(name: String, kind: ObserverKind?, factory: @escaping @Sendable (_ axis: Int?) -> any Observer) {
        self.name = name
        self.kind = kind
        self.factory = factory
    }

    /// The built-in observer `kind` with its default settings.
    public static func builtIn(_ kind: ObserverKind) -> ObserverChoice {
        ObserverChoice(name: kind.rawValue, kind: kind, factory: { kind.make(axis: $0) })
    }

    /// A user-defined observer: `make(axis)` returns a fresh observer keeping one statistic per index along `axis`
    /// (nil: one for the whole tensor). `name` must not be empty nor the name of a built-in observer (checked where
    /// the choice is used: `QuantizationSearch`, `WeightScheme`, `calibrate`).
    public static func custom(name: String, make: @escaping @Sendable (_ axis: Int?) -> any Observer) -> ObserverChoice {
        ObserverChoice(name: name, kind: nil, factory: make)
    }

    /// `builtIn(.minmax)`.
    public static let minmax = builtIn(.minmax)
    /// `builtIn(.movingAverage)`.
    public static let movingAverage = builtIn(.movingAverage)
    /// `builtIn(.percentile)`.
    public static let percentile = builtIn(.percentile)
    /// `builtIn(.mse)`.
    public static let mse = builtIn(.mse)
    /// `builtIn(.entropy)`.
    public static let entropy = builtIn(.entropy)

    /// A fresh observer, per tensor (`axis == nil`) or per channel along `axis`.
    public func make(axis: Int? = nil) -> any Observer {
        factory(axis)
    }

    /// `make(axis:)`, checking that the observer keeps its statistics along the axis asked for.
    ///
    /// - Throws: `ShrinkError(.value)` when the choice is invalid (see `validate`) or the observer's axis differs.
    func makeChecked(axis: Int?) throws -> any Observer {
        try validate()
        let observer = factory(axis)
        guard observer.axis == axis else {
            throw ShrinkError(.value, "the observer '\(name)' was asked for "
                + (axis.map { "statistics along axis \($0)" } ?? "per-tensor statistics") + " and made one with "
                + (observer.axis.map { "axis \($0)" } ?? "per-tensor statistics") + "; its factory must honour the axis")
        }
        return observer
    }

    /// - Throws: `ShrinkError(.value)` for a custom choice with an empty name or the name of a built-in observer (a
    ///   report naming it would read as the built-in).
    func validate() throws {
        guard kind == nil else { return }
        guard !name.isEmpty else { throw ShrinkError(.value, "a custom observer needs a name") }
        guard ObserverKind(rawValue: name) == nil else {
            throw ShrinkError(.value, "the custom observer '\(name)' takes the name of a built-in observer; the "
                + "built-in names are: \(ObserverKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public var description: String { name }

    public static func == (lhs: ObserverChoice, rhs: ObserverChoice) -> Bool { lhs.name == rhs.name }

    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = ObserverKind(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "'\(name)' is no built-in observer (\(ObserverKind.allCases.map(\.rawValue).joined(separator: ", "))); "
                    + "a custom observer cannot be read back from its name"))
        }
        self = .builtIn(kind)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
