// NPY: numpy's `.npy` array file, read (format versions 1.0, 2.0 and 3.0) and written (1.0, or 2.0 for huge headers).
// Layout: magic "\x93NUMPY", major and minor version bytes, a little-endian header length (UInt16 in 1.0, UInt32 later),
// a Python dict literal padded with spaces and a newline so the data starts on a 64-byte boundary, then the data.
// Deliberately left out: Fortran-ordered arrays and pickled object arrays.
import Tensors

/// Reader and writer of numpy `.npy` files.
///
/// [1] numpy NEP 1, "A simple file format for NumPy arrays".
public enum NPY {
    /// The longest header accepted (numpy's own reader refuses headers over 10,000 bytes by default).
    public static let maximumHeaderLength = 100_000

    /// The six bytes every NPY file starts with.
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads an NPY file; errors name `path`.
    public static func read(contentsOf path: String) throws -> NPYArray {
        try read(data: readFile(path), name: path)
    }

    /// Parses NPY bytes; `name` is the file (or archive member) named in errors.
    ///
    /// - Throws: `ShrinkError.format` for a bad magic number, header or byte count; `.unsupported` for a format
    ///   version above 3, Fortran order or an unsupported dtype.
    public static func read(data: [UInt8], name: String) throws -> NPYArray {
        let header = try readHeader(data, name: name)
        let available = data.count - header.dataOffset
        guard available == header.byteCount else {
            if available < header.byteCount {
                throw ShrinkError(.format, "\(name): truncated NPY data: shape \(header.shape) of \(header.dtype) needs "
                    + "\(header.byteCount) bytes after the header, the file holds \(available)")
            }
            throw ShrinkError(.format, "\(name): NPY data is \(available) bytes, shape \(header.shape) of \(header.dtype) "
                + "needs \(header.byteCount) (extra data after the array)")
        }
        return try NPYArray(shape: header.shape, dtype: header.dtype, data: Array(data[header.dataOffset...]))
    }

    /// What an NPY header says: the array's shape and dtype, where its data starts and how many bytes it takes.
    public struct Header: Sendable, Equatable {
        public var shape: [Int]
        public var dtype: String
        public var dataOffset: Int
        public var byteCount: Int
    }

    /// The header of the NPY file at `path`, read without its data (for arrays read from the file as needed).
    public static func header(ofFile path: String) throws -> Header {
        try readHeader(try readFilePrefix(path, count: 12 + maximumHeaderLength), name: path)
    }

    /// Parses the header at the start of `data` (which may stop anywhere after it).
    ///
    /// - Throws: `ShrinkError.format` for a bad magic number or header; `.unsupported` for a format version above
    ///   3, Fortran order or an unsupported dtype.
    public static func readHeader(_ data: [UInt8], name: String) throws -> Header {
        guard data.count >= 10, Array(data[0..<6]) == magic else {
            throw ShrinkError(.format, "\(name): not an NPY file (expected the magic bytes \\x93NUMPY)")
        }
        let major = data[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(data.littleEndianUInt16(at: 8))
        case 2, 3:
            guard data.count >= 12 else { throw truncated(name, expected: 12, actual: data.count, part: "header") }
            headerStart = 12
            headerLength = Int(data.littleEndianUInt32(at: 8))
        default:
            throw ShrinkError(.unsupported, "\(name): NPY format version \(major).\(data[7]) is not supported "
                + "(expected 1.0, 2.0 or 3.0)")
        }
        guard headerLength <= NPY.maximumHeaderLength else {
            throw ShrinkError(.format, "\(name): NPY header claims \(headerLength) bytes; at most \(NPY.maximumHeaderLength) "
                + "are accepted (numpy writes well under 1,000)")
        }
        let dataStart = headerStart + headerLength
        guard data.count >= dataStart else {
            throw truncated(name, expected: dataStart, actual: data.count, part: "header")
        }
        // Versions 1 and 2 are latin-1, 3 is UTF-8; a header numpy writes is ASCII either way.
        let headerText = major == 3
            ? String(decoding: data[headerStart..<dataStart], as: UTF8.self)
            : String(String.UnicodeScalarView(data[headerStart..<dataStart].map { Unicode.Scalar($0) }))
        let (shape, dtype) = try parseHeader(headerText, name: name)
        let element: ElementType
        do { element = try ElementType(descr: dtype) } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(name): \(error.message)")
        }
        guard let byteCount = checkedProduct(shape + [element.size]) else {
            throw ShrinkError(.format, "\(name): NPY shape \(shape) is too large")
        }
        return Header(shape: shape, dtype: dtype, dataOffset: dataStart, byteCount: byteCount)
    }

    /// Reads `descr`, `fortran_order` and `shape` from the header dict.
    static func parseHeader(_ text: String, name: String) throws -> (shape: [Int], dtype: String) {
        guard case .dictionary(let header) = try PythonLiteral.parse(text, name: name) else {
            throw ShrinkError(.format, "\(name): bad NPY header: expected a dict, got \(text.debugDescription)")
        }
        guard case .string(let dtype)? = header["descr"] else {
            if header["descr"] != nil {
                throw ShrinkError(.unsupported, "\(name): NPY 'descr' is a structured dtype; expected a simple one "
                    + "such as '<f4'")
            }
            throw ShrinkError(.format, "\(name): bad NPY header: no 'descr' key")
        }
        switch header["fortran_order"] {
        case .boolean(false)?: break
        case .boolean(true)?:
            throw ShrinkError(.unsupported, "\(name): Fortran-ordered arrays are not supported; save the array "
                + "with numpy.ascontiguousarray first")
        default: throw ShrinkError(.format, "\(name): bad NPY header: 'fortran_order' must be True or False")
        }
        guard case .sequence(let extents)? = header["shape"] else {
            throw ShrinkError(.format, "\(name): bad NPY header: 'shape' must be a tuple of integers")
        }
        let shape = try extents.map { extent -> Int in
            guard case .integer(let value) = extent, value >= 0 else {
                throw ShrinkError(.format, "\(name): bad NPY header: 'shape' holds \(extent); expected "
                    + "non-negative integers")
            }
            return value
        }
        return (shape, dtype)
    }

    /// Encodes an array as an NPY file: version 1.0, or 2.0 when the header does not fit 65535 bytes.
    public static func encode(_ array: NPYArray) -> [UInt8] {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        let dictionary = "{'descr': '\(array.dtype)', 'fortran_order': False, 'shape': \(shapeText), }"
        var major: UInt8 = 1
        var prefixLength = 10
        var padded = pad(dictionary, after: prefixLength)
        if padded.utf8.count > Int(UInt16.max) {
            major = 2
            prefixLength = 12
            padded = pad(dictionary, after: prefixLength)
        }
        var out = magic + [major, 0]
        out.reserveCapacity(prefixLength + padded.utf8.count + array.data.count)
        if major == 1 {
            out.appendLittleEndian(UInt16(padded.utf8.count))
        } else {
            out.appendLittleEndian(UInt32(padded.utf8.count))
        }
        out.append(contentsOf: padded.utf8)
        out.append(contentsOf: array.data)
        return out
    }

    /// The header padded with spaces and ended by a newline so that the data starts at a multiple of 64 bytes.
    private static func pad(_ dictionary: String, after prefixLength: Int) -> String {
        let unpadded = prefixLength + dictionary.utf8.count + 1
        return dictionary + String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    }

    private static func truncated(_ name: String, expected: Int, actual: Int, part: String) -> ShrinkError {
        ShrinkError(.format, "\(name): truncated NPY \(part): expected at least \(expected) bytes, the file holds \(actual)")
    }
}
