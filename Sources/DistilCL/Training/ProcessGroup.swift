import Foundation

/// The processes of a data-parallel run (an MPI job's world, `mpirun -np N`): each holds the
/// whole model, walks the same seeded order of the data and trains on its share of every
/// optimiser step's micro-batches; the gradients are summed across the processes before
/// clipping and the optimiser, so every process takes the same step and holds the same
/// weights. Process 0 alone writes checkpoints, logs and progress. `DistilCLMPI` implements it
/// on Open MPI; a run without one is a group of one.
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process, `0..<size`.
    var rank: Int { get }
    var size: Int { get }
    /// Sums `values` element-wise across the processes, in place: every process gets the sum.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// Every process's `value`, in rank order (also a barrier).
    func allGather(_ value: UInt64) throws -> [UInt64]
    /// Starts summing `values` in place across the processes and returns at once
    /// (`MPI_Iallreduce`); `values` stays allocated and untouched until `waitAll()`. Every
    /// process starts the same reductions in the same order.
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// Lets the started reductions progress without waiting for them (`MPI_Testall`).
    func poll() throws
    /// Waits until every started reduction is done (`MPI_Waitall`).
    func waitAll() throws
}

extension ProcessGroup {
    /// `value` summed across the processes.
    func sum(_ value: Double) throws -> Double {
        var v = [value]
        try v.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        return v[0]
    }

    /// Stops every process unless all hold the same `value` for `what`, naming the ranks that differ.
    func requireAgreement(_ value: UInt64, _ what: String) throws {
        let all = try allGather(value)
        let differ = all.indices.filter { all[$0] != all[0] }
        guard differ.isEmpty else {
            throw TrainingError.badOption("the processes disagree on \(what): rank\(differ.count > 1 ? "s" : "") \(differ.map(String.init).joined(separator: ", ")) differ\(differ.count > 1 ? "" : "s") from rank 0")
        }
    }
}

/// FNV-1a over `text`'s bytes: what the processes of a run compare to agree on a recipe.
func fingerprint64(_ text: String) -> UInt64 {
    text.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}
