import Foundation

/// The `--out` folder of a training run. At the top, the latest epoch's model as a Hugging
/// Face folder (`config.json`, `model.safetensors` with transformers' key names in float32,
/// the tokenizer files) and `train_log.jsonl`; beside them `checkpoint-epoch<N>/`, the same
/// files plus `optimizer.safetensors` (AdamW's moments) and `trainer_state.json` (epoch, step,
/// labels, recipe). A checkpoint, its log included, is written as `.checkpoint-epoch<N>.partial/`
/// and renamed when complete; the top-level files are then replaced one by one by atomic
/// renames of hard links, so an interrupted run leaves the last complete epoch intact, and what
/// an interruption left half-written is removed when a run starts there again.
struct RunFolder {
    let url: URL
    static let tokenizerFiles = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    static let modelFiles = ["config.json", "model.safetensors"] + tokenizerFiles + ["train_log.jsonl"]
    private var fm: FileManager { .default }

    /// What `--resume` reads back.
    struct State: Codable, Equatable {
        var epoch: Int
        var step: Int
        var labels: [String]
        var trainExamples: Int
        var options: TrainingOptions
        /// A distillation's teacher, `fingerprint` of its weights (nil when fine-tuning).
        var teacher: String? = nil
    }

    /// Identifies a weights file by its size and a 64-bit FNV-1a hash of its contents, read
    /// mapped (a 90 MB file in tens of milliseconds).
    static func fingerprint(_ url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw CheckpointError.fileNotFound(file: url.path)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { hash = (hash ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3 }
            for i in (words * 8)..<raw.count { hash = (hash ^ UInt64(raw[i])) &* 0x100_0000_01b3 }
        }
        return "\(data.count)-\(String(hash, radix: 16))"
    }

    func checkpoint(_ epoch: Int) -> URL { url.appendingPathComponent("checkpoint-epoch\(epoch)") }
    var log: URL { url.appendingPathComponent("train_log.jsonl") }

    /// The newest complete checkpoint and its state, if any.
    func latest() throws -> (URL, State)? {
        let names = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
        let epochs = names.compactMap { $0.hasPrefix("checkpoint-epoch") ? Int($0.dropFirst(16)) : nil }.sorted(by: >)
        for epoch in epochs {
            let dir = checkpoint(epoch), stateURL = dir.appendingPathComponent("trainer_state.json")
            guard let data = try? Data(contentsOf: stateURL) else { continue }
            do {
                return (dir, try JSONDecoder().decode(State.self, from: data))
            } catch {
                throw TrainingError.resume("\(stateURL.path) is not a trainer state: \(error)")
            }
        }
        return nil
    }

    /// Checks, before any training, that the folder can hold a run: not the model folder, not a
    /// file, not another model; creates it and removes what an interrupted run left behind.
    func prepare(model: URL, resume: Bool) throws {
        if url.standardizedFileURL.resolvingSymlinksInPath() == model.standardizedFileURL.resolvingSymlinksInPath() {
            throw TrainingError.output("--out \(url.path) is the model folder: choose another")
        }
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainingError.output("--out \(url.path) is a file, not a folder") }
            if !resume, try latest() == nil, fm.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) {
                throw TrainingError.output("--out \(url.path) already holds a model: choose another folder")
            }
        }
        do {
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            let probe = url.appendingPathComponent(".write-test.\(ProcessInfo.processInfo.processIdentifier)")
            try writeAtomically(Data(), to: probe)
            try fm.removeItem(at: probe)
        } catch {
            throw TrainingError.outputWrite("cannot write into --out \(url.path): \((error as NSError).localizedDescription)")
        }
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(".") && (name.hasSuffix(".partial") || name.hasSuffix(".tmp") || name.hasSuffix(".link")) {
            try? fm.removeItem(at: url.appendingPathComponent(name))
        }
    }

    /// Writes epoch `state.epoch`'s checkpoint, with `log` (every epoch's report so far), and
    /// makes it the folder's model. `config`: the model's configuration as it is to be saved
    /// (without a `--dropout` override), used when `source` holds another kind of model.
    func save(_ model: EncoderModel, config modelConfig: ModelConfig, optimizer: AdamWOptimizer, state: State,
              log reports: [EpochReport], source: URL) throws {
        try fm.createDirectory(at: url, withIntermediateDirectories: true)
        let partial = url.appendingPathComponent(".checkpoint-epoch\(state.epoch).partial")
        try? fm.removeItem(at: partial)
        try fm.createDirectory(at: partial, withIntermediateDirectories: false)
        var complete = false
        defer { if !complete { try? fm.removeItem(at: partial) } }
        let b = model.backend
        // config.json: the source's, now naming the classification head and its labels (a
        // distilled student's first: the model's own, the source being its BERT teacher).
        var config = try Self.json(source.appendingPathComponent("config.json"))
        if config["model_type"] as? String != modelConfig.modelType.rawValue { config = modelConfig.jsonObject() }
        config["architectures"] = model.config.architectures
        config["id2label"] = Dictionary(uniqueKeysWithValues: state.labels.enumerated().map { (String($0), $1) })
        config["label2id"] = Dictionary(state.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        config["num_labels"] = nil
        config["problem_type"] = "single_label_classification"
        try writeAtomically(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                            to: partial.appendingPathComponent("config.json"))
        // One tensor in host memory at a time: downloaded as the file is written.
        let ps = optimizer.grads.parameters
        var weights: [(name: String, shape: [Int], parameter: Int, range: Range<Int>)] = []
        for (i, p) in ps.enumerated() {
            for part in p.parts { weights.append((part.name, part.shape, i, part.range)) }
        }
        let fixedPositions = model.config.sinusoidalPositions   // not trained, but part of the checkpoint
        let positionName = "distilbert.embeddings.position_embeddings.weight"
        var entries = weights.map { (name: $0.name, shape: $0.shape) }
        if fixedPositions { entries.append((positionName, [model.config.maxPositions, model.config.hidden])) }
        var cached: (index: Int, values: [Float])?
        try SafeTensorsWriter.write(entries, to: partial.appendingPathComponent("model.safetensors")) { e in
            if e == weights.count { return try b.download(model.embeddings.position) }
            let w = weights[e]
            if cached?.index != w.parameter {
                let values = try b.download(ps[w.parameter].value, count: ps[w.parameter].count)
                guard values.allSatisfy(\.isFinite) else { throw TrainingError.nonFiniteLoss(step: state.step, loss: .nan) }
                cached = (w.parameter, values)
            }
            return Array(cached!.values[w.range])
        }
        cached = nil
        let moments = ps.flatMap { p in [(name: "exp_avg." + p.names[0], shape: p.shape),
                                         (name: "exp_avg_sq." + p.names[0], shape: p.shape)] }
        try SafeTensorsWriter.write(moments, metadata: ["step": String(state.step)],
                                    to: partial.appendingPathComponent("optimizer.safetensors")) { e in
            let i = e / 2
            return try b.download(e % 2 == 0 ? optimizer.m[i] : optimizer.v[i], count: ps[i].count)
        }
        for name in Self.tokenizerFiles where fm.fileExists(atPath: source.appendingPathComponent(name).path) {
            try fm.copyItem(at: source.appendingPathComponent(name), to: partial.appendingPathComponent(name))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(state), to: partial.appendingPathComponent("trainer_state.json"))
        try writeAtomically(try Self.logData(reports), to: partial.appendingPathComponent("train_log.jsonl"))

        let final = checkpoint(state.epoch)
        try? fm.removeItem(at: final)
        try fm.moveItem(at: partial, to: final)
        complete = true
        for name in Self.modelFiles where fm.fileExists(atPath: final.appendingPathComponent(name).path) {
            let link = url.appendingPathComponent(".\(name).link")
            try? fm.removeItem(at: link)
            try fm.linkItem(at: final.appendingPathComponent(name), to: link)
            guard rename(link.path, url.appendingPathComponent(name).path) == 0 else {
                throw TrainingError.output("cannot replace \(url.appendingPathComponent(name).path)")
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? [] {
            if name.hasPrefix("checkpoint-epoch"), let e = Int(name.dropFirst(16)), e != state.epoch {
                try? fm.removeItem(at: url.appendingPathComponent(name))
            }
        }
    }

    /// `train_log.jsonl`'s bytes: one line per report.
    static func logData(_ reports: [EpochReport]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for r in reports {
            data.append(try encoder.encode(r))
            data.append(0x0A)
        }
        return data
    }

    /// The reports in checkpoint `dir`'s `train_log.jsonl`.
    static func readLog(_ dir: URL) -> [EpochReport] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("train_log.jsonl"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochReport.self, from: Data($0.utf8)) }
    }

    /// AdamW's moments from a checkpoint, in `parameters`' order.
    static func moments(_ dir: URL, parameters: [ModelParameter]) throws -> ([[Float]], [[Float]]) {
        let file = try SafeTensorsFile(url: dir.appendingPathComponent("optimizer.safetensors"))
        var m: [[Float]] = [], v: [[Float]] = []
        for p in parameters {
            let (a, b) = (try file.floats("exp_avg." + p.names[0]), try file.floats("exp_avg_sq." + p.names[0]))
            guard a.count == p.count, b.count == p.count else {
                throw TrainingError.resume("\(dir.path)/optimizer.safetensors: \(p.names[0]) has the wrong size")
            }
            m.append(a)
            v.append(b)
        }
        return (m, v)
    }

    static func json(_ url: URL) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any] else {
            throw CheckpointError.configNotJSON(file: url.path, reason: "top level is not an object")
        }
        return object
    }
}
