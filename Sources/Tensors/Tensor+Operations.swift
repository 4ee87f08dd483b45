// Elementwise operations and reductions the layers, losses and optimizers need, as tight loops over buffers.

extension Tensor {
    /// `self += other` elementwise (same shape).
    public mutating func add(_ other: Tensor) {
        precondition(count == other.count, "add: \(shape) and \(other.shape) differ")
        other.withUnsafeBufferPointer { src in
            withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count { dst[i] += src[i] }
            }
        }
    }

    /// `self += alpha · other` elementwise (same shape).
    public mutating func add(_ other: Tensor, scaledBy alpha: Float) {
        precondition(count == other.count, "add: \(shape) and \(other.shape) differ")
        other.withUnsafeBufferPointer { src in
            withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count { dst[i] += alpha * src[i] }
            }
        }
    }

    /// `self *= factor` elementwise.
    public mutating func scale(by factor: Float) {
        withUnsafeMutableBufferPointer { dst in
            for i in 0..<dst.count { dst[i] *= factor }
        }
    }

    /// Elementwise sum.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        var out = lhs
        out.add(rhs)
        return out
    }

    /// Elementwise difference.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        var out = lhs
        out.add(rhs, scaledBy: -1)
        return out
    }

    /// Multiplication by a scalar.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor {
        var out = lhs
        out.scale(by: rhs)
        return out
    }

    /// Sets every element to zero, keeping the shape.
    public mutating func zero() {
        withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// The sum of all elements, accumulated in Double.
    public func sum() -> Double {
        withUnsafeBufferPointer { b in b.reduce(0.0) { $0 + Double($1) } }
    }

    /// The mean of all elements (0 for an empty tensor).
    public func mean() -> Double { count == 0 ? 0 : sum() / Double(count) }

    /// The largest absolute element (0 for an empty tensor).
    public func maxAbsolute() -> Float {
        withUnsafeBufferPointer { b in b.reduce(0) { max($0, abs($1)) } }
    }

    /// The dot product of the flattened tensors, accumulated in Double.
    public func dot(_ other: Tensor) -> Double {
        precondition(count == other.count, "dot: \(shape) and \(other.shape) differ")
        var total = 0.0
        for i in 0..<count { total += Double(scalars[i]) * Double(other.scalars[i]) }
        return total
    }

    /// The flat index of the first element that is NaN or infinite, or nil when all are finite.
    public func firstNonFiniteIndex() -> Int? {
        withUnsafeBufferPointer { b in b.firstIndex { !$0.isFinite } }
    }

    /// For a (N, K) tensor: the column index of the largest value in each row (first wins on ties).
    public func argmaxRows() -> [Int] {
        precondition(rank == 2, "argmaxRows needs (N, K), got \(shape)")
        let n = shape[0], k = shape[1]
        var result = [Int](repeating: 0, count: n)
        withUnsafeBufferPointer { b in
            for row in 0..<n {
                var best = 0
                for j in 1..<max(k, 1) where b[row * k + j] > b[row * k + best] { best = j }
                result[row] = best
            }
        }
        return result
    }
}
