@testable import DistilCL
import Foundation

// Entry points only tests call, kept out of `Sources/`: each is a thin wrapper over what the
// library itself uses.

extension EncoderModel {
    /// Runs forward and backward over `batch` with `labels` (`[batch]` class ids), adding the
    /// gradient of the mean cross-entropy into `grads`; returns each text's loss `[batch]` and
    /// logits `[batch][classes]`.
    func classificationStep(_ batch: TokenBatch, labels: [Int32], arena: TrainingArena, grads: GradientTable,
                            dropout: DropoutPlan) throws -> (losses: [Float], logits: [[Float]]) {
        let out = try classificationStep(batch, loss: CrossEntropyLoss(labels: labels), arena: arena, grads: grads,
                                         dropout: dropout)
        return (out.terms[0], out.logits)
    }
}

extension DropoutKey {
    /// 1/(1 − p), the scale of kept elements.
    var keepScale: Float { 1 / (1 - probability) }
}

extension SafeTensorsWriter {
    /// A named float32 tensor held in memory, `shape` row-major.
    struct Tensor {
        var name: String
        var shape: [Int]
        var values: [Float]

        init(name: String, shape: [Int], values: [Float]) {
            self.name = name; self.shape = shape; self.values = values
        }
    }

    /// Writes `tensors` (in order) to `url`, replacing it atomically.
    static func write(_ tensors: [Tensor], metadata: [String: String] = ["format": "pt"], to url: URL) throws {
        try write(tensors.map { ($0.name, $0.shape) }, metadata: metadata, to: url) { tensors[$0].values }
    }
}
