import ArgumentParser
import Foundation

/// `--shard K/N`: the input lines whose 0-based index i has i mod N = K, so that N processes
/// (a Kubernetes Indexed Job, a Slurm job array) split one corpus; each writes its lines'
/// outputs in input order, so shard K's j-th output line is input line K + j·N. `auto/N` takes K
/// from `$JOB_COMPLETION_INDEX` (Kubernetes) or `$SLURM_ARRAY_TASK_ID` (Slurm).
struct Shard: Equatable {
    static let environmentVariables = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]

    var index: Int
    var count: Int

    /// Parses `K/N` or `auto/N` (`environment` gives K for auto).
    init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, let n = Int(parts[1]), n >= 1 else {
            throw ValidationError("--shard takes K/N or auto/N with N ≥ 1, got '\(text)'")
        }
        var k: Int?
        if parts[0] == "auto" {
            guard let (name, value) = Self.environmentVariables.lazy.compactMap({ name in
                environment[name].flatMap { $0.isEmpty ? nil : (name, $0) } }).first else {
                throw ValidationError("--shard auto/\(n): neither \(Self.environmentVariables.joined(separator: " nor ")) is set")
            }
            guard let v = Int(value) else { throw ValidationError("--shard auto/\(n): \(name)='\(value)' is not an index") }
            k = v
        } else {
            k = Int(parts[0])
        }
        guard let k, (0..<n).contains(k) else {
            throw ValidationError("--shard \(text): K must be an index from 0 to \(n - 1)")
        }
        (index, count) = (k, n)
    }

    /// Whether the input line with 1-based number `line` belongs to this shard.
    func contains(line: Int) -> Bool { (line - 1) % count == index }
}
