// PythonLiteral: a parser for the small subset of Python literals an NPY header is written in — a dict of strings,
// booleans, integers and tuples, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
// Deliberately left out: floats, bytes, sets, expressions; a header holding them is not one numpy writes.
import Tensors

/// A parsed Python literal.
enum PythonLiteral: Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case none
    case sequence([PythonLiteral])  // a tuple or a list
    case dictionary([String: PythonLiteral])

    /// Parses `text` as one literal, allowing whitespace around it; `name` is the file named in errors.
    static func parse(_ text: String, name: String) throws -> PythonLiteral {
        var parser = Parser(characters: Array(text.unicodeScalars), name: name)
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.position == parser.characters.count else { throw parser.error("unexpected text after the literal") }
        return value
    }

    /// A parser over unicode scalars with a position.
    private struct Parser {
        let characters: [Unicode.Scalar]
        let name: String
        var position = 0
        /// How many containers enclose the current position; NPY headers nest two deep, so 32 is plenty and keeps a
        /// crafted header from exhausting the stack.
        var depth = 0

        init(characters: [Unicode.Scalar], name: String) {
            self.characters = characters
            self.name = name
        }

        var current: Unicode.Scalar? { position < characters.count ? characters[position] : nil }

        func error(_ what: String) -> ShrinkError {
            ShrinkError(.format, "\(name): bad NPY header: \(what) at character \(position)")
        }

        mutating func skipWhitespace() {
            while let character = current, character == " " || character == "\t" || character == "\n" || character == "\r" {
                position += 1
            }
        }

        mutating func expect(_ character: Unicode.Scalar) throws {
            skipWhitespace()
            guard current == character else { throw error("expected '\(character)'") }
            position += 1
        }

        mutating func value() throws -> PythonLiteral {
            skipWhitespace()
            guard let character = current else { throw error("unexpected end of header") }
            if character == "{" || character == "(" || character == "[" {
                depth += 1
                guard depth <= 32 else { throw error("containers nested more than 32 deep") }
            }
            defer { if character == "{" || character == "(" || character == "[" { depth -= 1 } }
            switch character {
            case "'", "\"": return .string(try string())
            case "{": return try dictionary()
            case "(": return try sequence(closing: ")", parenthesised: true)
            case "[": return try sequence(closing: "]", parenthesised: false)
            case "-", "+", "0"..."9": return .integer(try integer())
            default: return try keyword()
            }
        }

        /// A quoted string; backslash escapes keep the escaped character (`\n` and `\t` become control characters).
        mutating func string() throws -> String {
            let quote = characters[position]
            position += 1
            var result = String.UnicodeScalarView()
            while let character = current, character != quote {
                position += 1
                if character == "\\" {
                    guard let escaped = current else { break }
                    position += 1
                    result.append(escaped == "n" ? "\n" : escaped == "t" ? "\t" : escaped)
                } else {
                    result.append(character)
                }
            }
            guard current == quote else { throw error("unterminated string") }
            position += 1
            return String(result)
        }

        /// A decimal integer, with Python 3 underscores and the Python 2 long suffix `L` (old numpy wrote `(3L, 4L)`).
        mutating func integer() throws -> Int {
            var negative = false
            if current == "-" || current == "+" {
                negative = current == "-"
                position += 1
            }
            var magnitude = 0
            var digits = 0
            while let character = current, character == "_" || ("0"..."9").contains(character) {
                position += 1
                if character == "_" { continue }
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(character.value - 48))
                guard !overflow1, !overflow2 else { throw error("integer too large") }
                magnitude = sum
                digits += 1
            }
            guard digits > 0 else { throw error("expected digits") }
            if current == "L" || current == "l" { position += 1 }
            return negative ? -magnitude : magnitude
        }

        mutating func keyword() throws -> PythonLiteral {
            var word = ""
            while let character = current, character.properties.isAlphabetic || character == "_" {
                word.unicodeScalars.append(character)
                position += 1
            }
            switch word {
            case "True": return .boolean(true)
            case "False": return .boolean(false)
            case "None": return .none
            case "": throw error("unexpected character '\(current.map { String($0) } ?? "")'")
            default: throw error("unknown name '\(word)'")
            }
        }

        /// `( a, b, )` or `[a, b]`; a parenthesised single value without a comma is that value, as in Python.
        mutating func sequence(closing: Unicode.Scalar, parenthesised: Bool) throws -> PythonLiteral {
            position += 1
            var elements: [PythonLiteral] = []
            var sawComma = false
            while true {
                skipWhitespace()
                if current == closing { position += 1; break }
                elements.append(try value())
                skipWhitespace()
                if current == "," {
                    position += 1
                    sawComma = true
                } else {
                    try expect(closing)
                    break
                }
            }
            if parenthesised && elements.count == 1 && !sawComma { return elements[0] }
            return .sequence(elements)
        }

        /// `{ 'key': value, ... }` with string keys; a repeated key is an error.
        mutating func dictionary() throws -> PythonLiteral {
            position += 1
            var entries: [String: PythonLiteral] = [:]
            while true {
                skipWhitespace()
                if current == "}" { position += 1; break }
                guard current == "'" || current == "\"" else { throw error("expected a quoted key") }
                let key = try string()
                try expect(":")
                guard entries[key] == nil else { throw error("key '\(key)' appears twice") }
                entries[key] = try value()
                skipWhitespace()
                if current == "," { position += 1 } else { try expect("}"); break }
            }
            return .dictionary(entries)
        }
    }
}
