import Foundation

/// The `--out` folder of a training run. At the top, the latest epoch's model (with `--eval`,
/// the best evaluation's: `BestModel.swift`) as a Hugging
/// Face folder (`config.json`, `model.safetensors` with transformers' key names in float32,
/// the tokenizer files) and `train_log.jsonl`; beside them `checkpoint-epoch<N>/` (an epoch's
/// end) or `checkpoint-<step>/` (a `--save-steps` save, a new best at an `--eval-steps`
/// evaluation, the end of a `--max-steps` run or an early stop), as many as `--save-total-limit`
/// keeps, the same
/// files plus `optimizer.safetensors` (AdamW's moments) and `trainer_state.json` (epoch, step,
/// labels, recipe, the data's sha256). Each save writes a whole new folder beside `--out` and
/// swaps it in (`RunFolderSwap.swift`): a kill at any moment leaves the previous complete model
/// or the new one, and `recover()` (run before anything reads the folder) repairs an
/// interrupted swap.
struct RunFolder {
    let url: URL

    /// `url` with symbolic links resolved, so that the swap replaces the folder, not a link to it.
    init(url: URL) {
        self.url = url.standardizedFileURL.resolvingSymlinksInPath()
    }
    static let tokenizerFiles = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    static let modelFiles = ["config.json", "model.safetensors"] + tokenizerFiles + ["train_log.jsonl"]

    /// A DistilBERT student keeps its BERT teacher's `tokenizer_config.json`, whose
    /// `tokenizer_class` (BertTokenizer) makes transformers' AutoTokenizer give
    /// `token_type_ids`, which DistilBERT's forward refuses: name DistilBERT's tokenizer class
    /// (the same WordPiece vocabulary and rules) instead.
    static func distilBertTokenizerConfig(in dir: URL) throws {
        let url = dir.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let name = object["tokenizer_class"] as? String, name.hasPrefix("BertTokenizer") else { return }
        object["tokenizer_class"] = "DistilBert" + name.dropFirst(4)
        try FileManager.default.removeItem(at: url)
        try writeAtomically(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                            to: url)
    }
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
        /// The sha256 of `--train` and of `--eval` (nil without one, or in a checkpoint saved
        /// before these were recorded).
        var trainSHA256: String? = nil
        var evalSHA256: String? = nil
        /// The loop's running sums at this step (nil in a checkpoint from before they were kept,
        /// which is always at an epoch's end with nothing pending).
        var totals: LoopTotals? = nil
        /// transformers' `best_metric` and `best_model_checkpoint` (the folder's path) so far, and
        /// `EarlyStoppingCallback`'s count of evaluations without improvement (nil without `--eval`).
        var bestMetric: Double? = nil
        var bestModelCheckpoint: String? = nil
        var earlyStoppingPatienceCounter: Int? = nil

        enum CodingKeys: String, CodingKey {
            case epoch, step, labels, trainExamples, options, teacher, trainSHA256, evalSHA256, totals
            case bestMetric = "best_metric", bestModelCheckpoint = "best_model_checkpoint"
            case earlyStoppingPatienceCounter = "early_stopping_patience_counter"
        }
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
    /// A step's checkpoint, named as transformers names them.
    func checkpoint(step: Int) -> URL { url.appendingPathComponent("checkpoint-\(step)") }
    var log: URL { url.appendingPathComponent("train_log.jsonl") }

    /// Whether `name` is a checkpoint folder's: `checkpoint-epoch<N>` or `checkpoint-<step>`.
    static func isCheckpoint(_ name: String) -> Bool {
        guard name.hasPrefix("checkpoint-") else { return false }
        let rest = name.dropFirst(11)
        return Int(rest.hasPrefix("epoch") ? rest.dropFirst(5) : rest) != nil
    }

    /// The newest complete checkpoint (the most steps) and its state, if any.
    func latest() throws -> (URL, State)? {
        let names = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter(Self.isCheckpoint).sorted()
        var best: (URL, State)?
        for name in names {
            let dir = url.appendingPathComponent(name), stateURL = dir.appendingPathComponent("trainer_state.json")
            guard let data = try? Data(contentsOf: stateURL) else { continue }
            do {
                let state = try JSONDecoder().decode(State.self, from: data)
                if best.map({ state.step > $0.1.step }) ?? true { best = (dir, state) }
            } catch {
                throw TrainingError.resume("\(stateURL.path) is not a trainer state: \(error)")
            }
        }
        return best
    }

    /// Checks, before any training, that the folder can hold a run: not the model folder, not a
    /// file, not another model; creates it and removes what an interrupted run left behind.
    func prepare(model: URL, resume: Bool) throws {
        try recover()
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
            // Saves are written beside the folder and swapped in: its parent must take them.
            try fm.createDirectory(at: partialFolder, withIntermediateDirectories: false)
            try fm.removeItem(at: partialFolder)
        } catch {
            throw TrainingError.outputWrite("cannot write into --out \(url.path) or beside it: \((error as NSError).localizedDescription)")
        }
        for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(".") && (name.hasSuffix(".partial") || name.hasSuffix(".tmp") || name.hasSuffix(".link")) {
            try? fm.removeItem(at: url.appendingPathComponent(name))
        }
    }

    /// Writes epoch `state.epoch`'s checkpoint, with `log` (every epoch's report so far), and
    /// makes it the folder's model: the whole new folder is written beside `url` and swapped
    /// in (`RunFolderSwap.swift`), so a kill at any moment leaves the previous model or this
    /// one. `config`: the model's configuration as it is to be saved (without a `--dropout`
    /// override), used when `source` holds another kind of model. `keep`: the folder's older
    /// checkpoints the new folder carries (hard-linked; the others go with the swap); `top`:
    /// the checkpoint whose model the top level holds (`name` or one of `keep`: the best one).
    func save(_ model: EncoderModel, config modelConfig: ModelConfig, optimizer: AdamWOptimizer, state: State,
              log reports: [TrainLogLine], name: String, source: URL, keep: [String] = [], top: String? = nil) throws {
        try recover()
        let staged = partialFolder
        try? fm.removeItem(at: staged)
        let dir = staged.appendingPathComponent(name)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        var complete = false
        defer { if !complete { try? fm.removeItem(at: staged) } }
        // config.json: the source's, now naming the classification head and its labels (a
        // distilled student's first: the model's own, the source being its BERT teacher).
        var config = try Self.json(source.appendingPathComponent("config.json"))
        if config["model_type"] as? String != modelConfig.modelType.rawValue { config = modelConfig.jsonObject() }
        config["architectures"] = model.config.architectures
        config["id2label"] = Dictionary(uniqueKeysWithValues: state.labels.enumerated().map { (String($0), $1) })
        config["label2id"] = Dictionary(state.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        config["num_labels"] = nil
        config["problem_type"] = model.config.task == .sequenceClassification
            ? (model.config.problemType ?? .singleLabel).rawValue : nil
        try Checkpoint.write(model: model, config: config, to: dir)
        let b = model.backend, ps = optimizer.grads.parameters
        let moments = ps.flatMap { p in [(name: "exp_avg." + p.names[0], shape: p.shape),
                                         (name: "exp_avg_sq." + p.names[0], shape: p.shape)] }
        try SafeTensorsWriter.write(moments, metadata: ["step": String(state.step)],
                                    to: dir.appendingPathComponent("optimizer.safetensors")) { e in
            let i = e / 2
            return try b.download(e % 2 == 0 ? optimizer.m[i] : optimizer.v[i], count: ps[i].count)
        }
        for name in Self.tokenizerFiles where fm.fileExists(atPath: source.appendingPathComponent(name).path) {
            try fm.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        if model.config.modelType == .distilbert { try Self.distilBertTokenizerConfig(in: dir) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(state), to: dir.appendingPathComponent("trainer_state.json"))
        try writeAtomically(try Self.logData(reports), to: dir.appendingPathComponent("train_log.jsonl"))
        for kept in keep where kept != name { try carry(kept, into: staged) }
        // The top level: the same files (the model's from `top`, the log the newest), hard-linked.
        let topDir = staged.appendingPathComponent(top ?? name)
        for file in Self.modelFiles {
            let from = (file == "train_log.jsonl" ? dir : topDir).appendingPathComponent(file)
            if fm.fileExists(atPath: from.path) { try fm.linkItem(at: from, to: staged.appendingPathComponent(file)) }
        }
        try swapIn(staged)
        complete = true
    }

    /// `train_log.jsonl`'s bytes: one line per report.
    static func logData(_ reports: [TrainLogLine]) throws -> Data {
        var data = Data()
        for r in reports {
            data.append(try r.encoded())
            data.append(0x0A)
        }
        return data
    }

    /// The lines of checkpoint `dir`'s `train_log.jsonl`.
    static func readLog(_ dir: URL) -> [TrainLogLine] {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("train_log.jsonl"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap { TrainLogLine(Data($0.utf8)) }
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
