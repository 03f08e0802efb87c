import DistilCL
import Foundation

/// The steps every batch command shares, in order: open `--output` (so an unwritable
/// destination fails before any work), read and validate the input, run the batches, then
/// commit the output and print the warnings (skipped lines, truncation).
struct CommandFlow {
    let io: IOOptions
    let writer: OutputWriter
    var reader: InputReader

    init(io: IOOptions) throws {
        self.io = io
        writer = try OutputWriter(path: io.output)
        reader = InputReader(io)
    }

    /// Runs `inputs` through `runner`'s batches with a progress bar, then commits the output.
    func run<Input, Prepared, Output: Encodable>(
        _ inputs: [Input], batchSize: Int, session: Session?,
        prepare: (Input) throws -> Prepared,
        length: (Prepared) -> Int,
        process: ([Prepared]) throws -> [Output]
    ) throws {
        defer { writer.abort() }
        let progress = Progress.make(total: inputs.count, force: io.progress)
        let runner = BatchRunner(batchSize: batchSize, writer: writer, progress: progress)
        try runner.run(inputs, prepare: prepare, length: length, process: process)
        progress?.finish()
        try writer.commit()
        reader.reportSkipped()
        session?.reportTruncation()
    }
}
