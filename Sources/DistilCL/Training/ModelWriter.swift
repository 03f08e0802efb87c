import Foundation

extension Checkpoint {
    /// Saves a trainable `model` as a Hugging Face folder's model files in `directory` (which
    /// must exist): `config` as `config.json` and every trainable parameter as
    /// `model.safetensors`, float32, under transformers' key names (the fused Q, K, V projection
    /// split back into `query`/`key`/`value` or `q_lin`/`k_lin`/`v_lin`), with DistilBERT's
    /// fixed sinusoidal position table `[maxPositions, dim]` when it has one. No optimizer is
    /// needed: this is the model alone. One tensor is in host memory at a time.
    /// - Throws: `TrainingError.outputWrite` when a weight is not finite (nothing is renamed
    ///   into place by this call: the caller writes into a folder of its own).
    static func write(model: EncoderModel, config: [String: Any], to directory: URL) throws {
        try writeAtomically(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                            to: directory.appendingPathComponent("config.json"))
        let b = model.backend, ps = try model.trainableParameters()
        var weights: [(name: String, shape: [Int], parameter: Int, range: Range<Int>)] = []
        for (i, p) in ps.enumerated() {
            for part in p.parts { weights.append((part.name, part.shape, i, part.range)) }
        }
        let fixedPositions = model.config.sinusoidalPositions   // not trained, but part of the checkpoint
        let positionName = "distilbert.embeddings.position_embeddings.weight"
        var entries = weights.map { (name: $0.name, shape: $0.shape) }
        if fixedPositions { entries.append((positionName, [model.config.maxPositions, model.config.hidden])) }
        var cached: (index: Int, values: [Float])?
        try SafeTensorsWriter.write(entries, to: directory.appendingPathComponent("model.safetensors")) { e in
            if e == weights.count { return try b.download(model.embeddings.position) }
            let w = weights[e]
            if cached?.index != w.parameter {
                let values = try b.download(ps[w.parameter].value, count: ps[w.parameter].count)
                guard values.allSatisfy(\.isFinite) else {
                    throw TrainingError.outputWrite("\(ps[w.parameter].names[0]) holds a value that is not finite: stopped, the last checkpoint is untouched (try a lower --lr)")
                }
                cached = (w.parameter, values)
            }
            return Array(cached?.values[w.range] ?? [])
        }
    }
}
