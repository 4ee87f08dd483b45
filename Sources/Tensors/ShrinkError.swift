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
