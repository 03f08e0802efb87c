import DistilCL
import Foundation

/// Runs a command over its inputs: a window of inputs at a time (so that memory stays bounded
/// and output streams), each window prepared (tokenized), cut into length-sorted batches,
/// processed, and written back in input order.
struct BatchRunner {
    let batchSize: Int
    let writer: OutputWriter
    let progress: Progress?
    /// Inputs per window; sorting by length happens within a window.
    var windowSize: Int

    init(batchSize: Int, writer: OutputWriter, progress: Progress?) {
        self.batchSize = max(batchSize, 1)
        self.writer = writer
        self.progress = progress
        windowSize = max(self.batchSize * 32, 1024)
    }

    /// - Parameters:
    ///   - prepare: turns an input into what `process` takes (e.g. its encoding).
    ///   - length: the cost to sort by (e.g. token count).
    ///   - process: one batch in, one output per item back, in the same order.
    func run<Input, Prepared, Output: Encodable>(
        _ inputs: [Input],
        prepare: (Input) throws -> Prepared,
        length: (Prepared) -> Int,
        process: ([Prepared]) throws -> [Output]
    ) throws {
        var start = 0
        while start < inputs.count {
            let end = min(start + windowSize, inputs.count)
            let prepared = try inputs[start..<end].map(prepare)
            var outputs = [Output?](repeating: nil, count: prepared.count)
            for batch in lengthSortedBatches(prepared.map(length), batchSize: batchSize) {
                let results = try process(batch.map { prepared[$0] })
                guard results.count == batch.count else {
                    throw CLIError(.failure, "internal error: \(results.count) results for a batch of \(batch.count)")
                }
                for (i, r) in zip(batch, results) { outputs[i] = r }
                progress?.advance(by: batch.count)
            }
            for output in outputs {
                guard let output else { throw CLIError(.failure, "internal error: an input has no result") }
                try writer.write(output)
            }
            try writer.flush()
            start = end
        }
    }
}
