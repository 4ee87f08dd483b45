// TextTable: aligned plain-text tables for the CLI (numbers right-aligned, text left-aligned).
import Foundation

/// A table of strings printed with aligned columns.
public struct TextTable: CustomStringConvertible {
    public var headers: [String]
    public var rows: [[String]] = []

    public init(headers: [String]) { self.headers = headers }

    /// Appends a row; it must have one cell per header.
    public mutating func append(_ row: [String]) {
        precondition(row.count == headers.count, "TextTable row has \(row.count) cells for \(headers.count) headers")
        rows.append(row)
    }

    private static func isNumeric(_ s: String) -> Bool {
        guard let first = s.first else { return false }
        return first.isNumber || ((first == "-" || first == "+") && s.dropFirst().first?.isNumber == true)
    }

    /// Columns whose non-empty body cells are all numbers are right-aligned (header included); trailing spaces
    /// are trimmed.
    public var description: String {
        let widths = headers.indices.map { c in ([headers[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        let numeric = headers.indices.map { c in
            let cells = rows.map { $0[c] }.filter { !$0.isEmpty }
            return !cells.isEmpty && cells.allSatisfy(TextTable.isNumeric)
        }
        func line(_ cells: [String]) -> String {
            let text = cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return numeric[c] ? pad + cell : cell + pad
            }.joined(separator: "  ")
            return String(text.reversed().drop(while: { $0 == " " }).reversed())
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(headers), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Formats an integer with thousands separators: 421642 → "421,642".
public func groupedThousands(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}

/// Formats a byte count with binary units: 1686568 → "1.61 MiB".
public func formattedBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.2f %@", value, units[unit])
}
