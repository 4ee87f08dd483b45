// ShrinkError: the one error type user input can reach; its message names the file, the field and what was expected.

/// An error caused by input from outside the program: a file, a command-line value, a recipe field.
public struct ShrinkError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of input failed; tests match on it.
    public enum Kind: String, Sendable {
        case io, format, shape, value, unknownName, unsupported
    }
    public let kind: Kind
    /// A full sentence naming the file or field and what was expected.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// A closed set of named choices a user picks by name on the command line or in a recipe (observers, scores,
/// schedules, …): `init(named:)` finds one or throws an error that lists them all.
public protocol NamedChoice: CaseIterable, RawRepresentable where RawValue == String {
    /// What the choice is called in messages: "observer", "pruning score".
    static var choiceName: String { get }
}

extension NamedChoice {
    /// The choice called `name`.
    ///
    /// - Throws: `ShrinkError(.unknownName)` naming `name` and listing every choice.
    public init(named name: String) throws {
        guard let value = Self(rawValue: name) else {
            throw ShrinkError(.unknownName, "unknown \(Self.choiceName) '\(name)'; expected one of: "
                + Self.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = value
    }
}
