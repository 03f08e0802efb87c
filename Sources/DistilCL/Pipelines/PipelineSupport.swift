import Foundation

// Shared pieces of the pipelines' post-processing: the error type and the float32 arithmetic
// transformers' pipelines do with numpy (softmax with max subtraction, sigmoid, pairwise sums,
// arg-max and top-k with a fixed tie order).

// MARK: - Errors

/// Why a pipeline's pre- or post-processing could not run.
public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An input the pipeline requires is empty (`what` names it: "question", "context", …).
    case emptyInput(what: String)
    /// The question leaves no room for context tokens in a window of `maxSeqLen` tokens.
    case questionTooLong(questionTokens: Int, maxSeqLen: Int)
    /// `doc_stride` must be smaller than the number of context tokens a window can hold.
    case strideTooLarge(stride: Int, contextTokensPerWindow: Int)
    /// Logits (or another array) of the wrong shape: `what` says which and how.
    case shapeMismatch(what: String)
    /// The input holds no `[MASK]` token.
    case noMaskToken
    /// Zero-shot labels that are not `NAME=description` entries (the reason).
    case badLabels(String)

    public var description: String {
        switch self {
        case .emptyInput(let what):
            return "The \(what) is empty"
        case .questionTooLong(let questionTokens, let maxSeqLen):
            return "The question (\(questionTokens) tokens) leaves no room for context in max_seq_len=\(maxSeqLen)"
        case .strideTooLarge(let stride, let room):
            return "doc_stride \(stride) must be smaller than the \(room) context tokens a window holds"
        case .shapeMismatch(let what):
            return "Shape mismatch: \(what)"
        case .badLabels(let why):
            return "--labels: \(why)"
        case .noMaskToken:
            return "The input contains no [MASK] token"
        }
    }
}

// MARK: - Float32 arithmetic as numpy does it

/// Numeric helpers mirroring numpy's float32 behaviour in transformers' pipelines.
public enum PipelineMath {
    /// numpy's pairwise summation of a contiguous float32 array (`np.sum`): blocks of at most
    /// 128 values summed with eight interleaved accumulators, larger arrays split in halves.
    public static func sum(_ values: [Float]) -> Float {
        values.withUnsafeBufferPointer { pairwiseSum($0[...]) }
    }

    private static func pairwiseSum(_ a: Slice<UnsafeBufferPointer<Float>>) -> Float {
        let n = a.count
        let base = a.startIndex
        if n < 8 {
            var result: Float = 0
            for i in a.indices { result += a[i] }
            return result
        }
        if n <= 128 {
            var r = (0..<8).map { a[base + $0] }
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[base + i + j] }
                i += 8
            }
            var result = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n {
                result += a[base + i]
                i += 1
            }
            return result
        }
        var half = n / 2
        half -= half % 8
        return pairwiseSum(a[base..<(base + half)]) + pairwiseSum(a[(base + half)..<a.endIndex])
    }

    /// Softmax over `logits` in float32: `exp(x - max(x)) / sum(exp(x - max(x)))`. Empty in, empty out.
    public static func softmax(_ logits: [Float]) -> [Float] {
        guard let maximum = logits.max() else { return [] }
        let shifted = logits.map { Foundation.exp($0 - maximum) }
        let total = sum(shifted)
        return shifted.map { $0 / total }
    }

    /// The logistic function `1 / (1 + exp(-x))` of each value, in float32.
    public static func sigmoid(_ logits: [Float]) -> [Float] {
        logits.map { 1 / (1 + Foundation.exp(-$0)) }
    }

    /// Index of the first largest value (`np.argmax`); `nil` for an empty array.
    public static func argmax(_ values: [Float]) -> Int? {
        guard var best = values.indices.first else { return nil }
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// Indices of the `k` largest values, largest first; equal values keep index order and NaN
    /// counts as smaller than any number.
    public static func topK(_ values: [Float], _ k: Int) -> [Int] {
        guard k > 0 else { return [] }
        /// Whether `x` ranks strictly above `y`.
        func above(_ x: Float, _ y: Float) -> Bool { x > y || (y.isNaN && !x.isNaN) }
        if k > 32 {
            let order = values.indices.sorted { a, b in
                above(values[a], values[b]) || (!above(values[b], values[a]) && a < b)
            }
            return Array(order.prefix(k))
        }
        // One pass keeping the best k in order: a later index only enters by ranking strictly
        // above, so equal values stay in index order.
        var best: [Int] = []
        best.reserveCapacity(min(k, values.count) + 1)
        for i in values.indices {
            let value = values[i]
            if best.count == k, let last = best.last, !above(value, values[last]) { continue }
            var position = best.count
            while position > 0 && above(value, values[best[position - 1]]) { position -= 1 }
            best.insert(i, at: position)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// The float32 mean of `values` (`np.mean`: pairwise sum divided by the count).
    static func mean(_ values: [Float]) -> Float {
        values.isEmpty ? .nan : sum(values) / Float(values.count)
    }
}

// MARK: - Code point helpers

extension String {
    /// The code points `[start, end)` (Python `s[start:end]` with non-negative bounds, clamped).
    func codePoints(_ start: Int, _ end: Int) -> String {
        let scalars = unicodeScalars
        let count = scalars.count
        let lower = Swift.min(Swift.max(start, 0), count)
        let upper = Swift.min(Swift.max(end, lower), count)
        let from = scalars.index(scalars.startIndex, offsetBy: lower)
        let to = scalars.index(from, offsetBy: upper - lower)
        return String(scalars[from..<to])
    }

    /// Whether two strings have the same code points (Python `==`, no canonical equivalence).
    func hasSameScalars(as other: String) -> Bool {
        unicodeScalars.elementsEqual(other.unicodeScalars)
    }
}
