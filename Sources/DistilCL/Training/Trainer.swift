import Foundation

/// Fine-tunes a checkpoint for sequence classification on JSON Lines data, the loop of
/// transformers' Trainer: seeded shuffling, AdamW with clipping and a linear schedule,
/// evaluation and an atomic checkpoint (`RunFolder`) after every epoch, `--resume` from the
/// last complete epoch to the same result as an uninterrupted run. With
/// `options.distillation` the same loop distils: the model folder is the teacher, the
/// trained model a DistilBERT student built from its layers (`Checkpoint.distilBertStudent`),
/// the loss `DistillationLoss` (and the cosine term) against the teacher's outputs.
public final class Trainer {
    public let model: EncoderModel
    public let labels: [String]
    public let options: TrainingOptions
    public let trainCount: Int
    /// What the run trains: `--task`, else the model folder's head.
    public let task: TrainingTask
    /// Text classification's problem type (single-label for the other tasks).
    public let problem: ProblemType
    /// Epochs already done (when resumed).
    public internal(set) var completedEpochs = 0
    /// Every line of `train_log.jsonl` so far, resumed ones included.
    public internal(set) var history: [TrainLogLine] = []
    /// The checkpoint the last save wrote.
    public internal(set) var lastCheckpoint: URL?
    /// The best evaluation's checkpoint (with `--eval`): the model at the top of `--out`.
    public var bestCheckpoint: URL? { best?.bestCheckpoint.map { folder.url.appendingPathComponent($0) } }
    public var onStep: ((StepReport) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    let folder: RunFolder
    /// Where config.json and the tokenizer files are copied from: the model folder, then the
    /// latest checkpoint (an older one is deleted once a newer one is complete).
    var source: URL
    let backend: any TrainingBackend
    let train: [(Encoding, Int32)]
    let eval: [(Encoding, Int32)]
    let grads: GradientTable
    let optimizer: AdamWOptimizer
    var arena: TrainingArena?
    /// A per-token head's buffers (token classification, QA), grown with `arena`.
    var tokenHead: TokenHeadArena?
    /// The loop's running sums (restored when resuming).
    var totals = LoopTotals()
    /// `--report-to tensorboard`'s event file (nil otherwise).
    var events: TensorBoardWriter?
    /// The best evaluation so far and early stopping's count (nil without `--eval`).
    var best: BestModelTracker?
    /// Distillation's teacher (nil when fine-tuning, or when no loss term reads it).
    let teacher: Teacher?
    /// The configuration the output folder gets (the recipe's `--dropout` is not the model's).
    let savedConfig: ModelConfig
    /// The teacher's `RunFolder.fingerprint`, kept in every checkpoint (nil when fine-tuning).
    let teacherPrint: String?
    /// The sha256 of `--train` and `--eval`, kept in every checkpoint.
    let dataHashes: (train: String, eval: String?)
    /// Token classification's features and head buffers (nil for other tasks).
    let tokenTask: TokenTaskState?
    /// Question answering's windows, evaluation questions and head buffers (nil for other tasks).
    let qaTask: QATaskState?
    /// Masked-LM's blocks and masking (nil for other tasks).
    let maskedTask: MaskedLMTaskState?
    /// The processes of a data-parallel run (nil: this one alone).
    let group: (any ProcessGroup)?
    /// Sums a data-parallel step's gradients, bucket by bucket during the backward (nil alone).
    var reducer: GradientReducer?
    /// Whether this process writes: the only one, or rank 0 of a group.
    var writes: Bool { (group?.rank ?? 0) == 0 }
    /// Examples in `--train` (sentences, texts or questions: what `--resume` compares).
    let rawTrainCount: Int
    /// Regression's and multi-label classification's targets, `[examples]` of `[labels]` (nil:
    /// no label), in `train`'s and `eval`'s order; nil for single-label and the other tasks.
    let floatTargets: (train: [[Float]?], eval: [[Float]?])?

    /// Reads the data and the model and puts it on `backend`.
    /// - Parameters:
    ///   - labels: `--labels`; nil takes the model's `id2label`, else the sorted names in the data.
    ///   - resume: continue the run in `output` from its last complete epoch (its recipe must
    ///     equal `options`, its data files the same bytes); without it, `output` must not hold a
    ///     run already.
    ///   - newHead: give a sequence-classification checkpoint a fresh head (`--new-head`), as
    ///     another label set needs; ignored when resuming (the run's head is its own).
    ///   - resumeAnyData: resume although `--train` or `--eval` changed (`--resume-any-data`).
    ///   - settings: the task (`--task`, else the model's head) and how its data is read.
    ///   - group: the processes of a data-parallel run: `options.batchSize` is per process, each
    ///     optimiser step takes `gradientAccumulationSteps × group.size` micro-batches, dealt
    ///     round-robin, so the run's recipe (and what `--resume` compares) is that of one process
    ///     accumulating them all; rank 0 alone writes.
    ///   - bucketBytes: the size of the gradient buckets a data-parallel step sums while the
    ///     backward runs (`--ddp-bucket-cap-mb`, 25 MB as PyTorch's DDP); every process must give the same.
    public init(model directory: URL, train trainURL: URL, eval evalURL: URL?, labels given: [String]?, output: URL,
                backend: any ComputeBackend, options: TrainingOptions, resume: Bool, newHead: Bool = false,
                resumeAnyData: Bool = false, settings: TaskSettings = TaskSettings(),
                group: (any ProcessGroup)? = nil, bucketBytes: Int = 25 << 20) throws {
        try options.validate()
        var options = try Self.resolved(options, model: directory)
        self.group = group
        options.gradientAccumulationSteps *= group?.size ?? 1
        guard let tb = backend as? any TrainingBackend else { throw TrainingError.backendCannotTrain(backend.name) }
        if let cpu = backend as? CPUBackend, cpu.precision != .fp32 { throw TrainingError.notFloat32("\(cpu.precision)") }
        self.backend = tb
        folder = RunFolder(url: output)
        // An interrupted save is completed or rolled back (by the writer) before anything reads the folder.
        if (group?.rank ?? 0) == 0 { try folder.recover() }
        _ = try group?.allGather(0)

        let distilling = options.distillation
        if options.evalSteps != nil, evalURL == nil { throw TrainingError.badOption("--eval-steps needs --eval") }
        if options.metricForBestModel != nil, evalURL == nil {
            throw TrainingError.badOption("--metric-for-best-model needs --eval")
        }
        if options.earlyStoppingPatience != nil, evalURL == nil {
            throw TrainingError.badOption("--early-stopping-patience needs --eval")
        }
        try settings.validate()
        let task = try TrainingTask.resolveForTraining(settings.task, model: directory)
        self.task = task
        // Masked-LM's masking is part of the recipe (`--resume` compares it).
        let masked = task == .maskedLM
        options.maskedLM = masked ? settings.maskedLM : nil
        self.options = options
        if !masked, settings.maskedLM != MaskedLMOptions() {
            throw TrainingError.badOption("--line-by-line, --mlm-probability, --whole-word-masking, --mlm-smoothing and --kd-all-tokens are for --task masked-lm")
        }
        // Token classification reads tagged sentences, QA questions; `trainExamples` then stays empty.
        let tagged = task == .tokenClassification, answering = task == .questionAnswering
        if answering, let d = distilling, d.alphaCos > 0 {
            throw TrainingError.badOption("--alpha-cos: question answering distils logits only (pass --alpha-cos 0)")
        }
        let trainSentences = tagged ? try TaggedData.read(trainURL, format: settings.format) : []
        let evalSentences = tagged ? try evalURL.map { try TaggedData.read($0, format: settings.format) } ?? [] : []
        let trainQuestions = answering ? try SquadData.read(trainURL) : []
        let evalQuestions = answering ? try evalURL.map { try SquadData.read($0) } ?? [] : []
        let trainTexts = masked ? try MaskedLMBlocks.texts(trainURL) : []
        let evalTexts = masked ? try evalURL.map { try MaskedLMBlocks.texts($0) } ?? [] : []
        let labelled = !(tagged || answering || masked)
        let trainExamples = labelled ? try LabeledData.read(trainURL, labelsOptional: distilling != nil) : []
        let evalExamples = labelled ? try evalURL.map { try LabeledData.read($0) } ?? [] : []
        let rawCount = tagged ? trainSentences.count : answering ? trainQuestions.count
            : masked ? trainTexts.count : trainExamples.count
        rawTrainCount = rawCount
        if distilling != nil {   // the student has no token types: its start equals the teacher on single texts only
            for (url, examples) in [(trainURL, trainExamples), (evalURL, evalExamples)] {
                if let i = examples.firstIndex(where: { $0.pair != nil }) {
                    throw LabeledDataError.badLine(url?.path ?? "", line: i + 1, """
                        "text_pair": distillation takes single texts (a DistilBERT student has no token types to tell \
                        the segments apart)
                        """)
                }
            }
        }
        let trainHash = try SHA256.hex(of: trainURL), evalHash = try evalURL.map { try SHA256.hex(of: $0) }
        let teacherPrint = try distilling.map { _ in try RunFolder.fingerprint(directory.appendingPathComponent("model.safetensors")) }
        var start = directory, state: RunFolder.State?
        if resume {
            guard let (dir, saved) = try folder.latest() else {
                throw TrainingError.resume("--resume: \(output.path) holds no complete checkpoint to continue from")
            }
            guard saved.options == options else {
                throw TrainingError.resume("--resume: the run in \(output.path) used a different recipe (\(Self.describe(saved.options))); pass the same flags")
            }
            guard saved.trainExamples == rawCount else {
                throw TrainingError.resume("--resume: the run trained on \(saved.trainExamples) texts, --train has \(rawCount)")
            }
            if !resumeAnyData {
                let files: [(flag: String, url: URL?, was: String?, now: String?)] = [
                    ("--train", trainURL, saved.trainSHA256, trainHash), ("--eval", evalURL, saved.evalSHA256, evalHash),
                ]
                // A checkpoint from before the hashes were kept has none to compare.
                for (flag, url, was, now) in files where saved.trainSHA256 != nil && was != now {
                    let what = switch (url, was) {
                    case (let url?, .some): "\(flag) \(url.path) changed since the run began"
                    case (let url?, nil): "\(flag) \(url.path) was not part of the run"
                    case (nil, _): "the run had an \(flag) file, this one none"
                    }
                    throw TrainingError.resume("--resume: \(what) (sha256 \(was ?? "none") then, \(now ?? "none") now); pass --resume-any-data to continue on the changed data")
                }
            }
            if saved.teacher != teacherPrint {
                throw TrainingError.resume("--resume: the run in \(output.path) distilled another teacher than \(directory.path) (its model.safetensors differs)")
            }
            if let given, given != saved.labels {
                throw TrainingError.resume("--resume: the run's labels are \(saved.labels.joined(separator: ",")), not \(given.joined(separator: ","))")
            }
            (start, state) = (dir, saved)
        } else if try folder.latest() != nil {
            throw TrainingError.output("\(output.path) already holds a training run: pass --resume to continue it, or choose another --out")
        }
        source = start

        var checkpoint = try Checkpoint(directory: start)
        var teacherCheckpoint: Checkpoint?
        // The teacher's (or, resuming, the run's) problem type, unless a flag names one.
        let problem = labelled ? settings.problem(for: checkpoint.config) : .singleLabel
        if resume, let saved = checkpoint.config.problemType, saved != problem {
            throw TrainingError.resume("--resume: the run in \(output.path) trains \(saved.rawValue), not \(problem.rawValue)")
        }
        self.problem = problem
        if let distilling {
            let t = resume ? try Checkpoint(directory: directory) : checkpoint
            let head: ModelConfig.Task = tagged ? .tokenClassification
                : answering ? .questionAnswering : masked ? .maskedLM : .sequenceClassification
            if distilling.alphaKD > 0, t.config.task != head {
                throw TrainingError.headMismatch("""
                    the teacher \(directory.path) (\(t.config.architectures.first ?? t.config.modelType.rawValue)) has no \
                    \(tagged ? "token-classification" : answering ? "question-answering" : masked ? "masked-LM" : "sequence-classification") \
                    head: the KL term needs its logits (fine-tune it with distilcl train first, or pass --alpha-kd 0)
                    """)
            }
            if !resume, let given = distilling.student {
                checkpoint = try Checkpoint(directory: URL(fileURLWithPath: given))
            } else if !resume {
                checkpoint = try t.distilBertStudent(layers: distilling.studentLayers
                                                     ?? Checkpoint.defaultStudentLayers(teacherLayers: t.config.layers))
            }
            let (sc, tc) = (checkpoint.config, t.config)
            // The KL term needs the same vocabulary (the inputs), the cosine term the same width.
            guard sc.vocabSize == tc.vocabSize, sc.hidden == tc.hidden || distilling.alphaCos == 0 else {
                let what = resume ? "--resume: the student in \(start.path)" : "--student \(distilling.student ?? "")"
                throw TrainingError.badOption("\(what) (width \(sc.hidden), vocabulary \(sc.vocabSize)) does not fit the teacher (\(tc.hidden), \(tc.vocabSize))\(sc.vocabSize == tc.vocabSize ? ": the cosine term compares hidden states of one width (pass --alpha-cos 0)" : ": the student must read the teacher's vocabulary")")
            }
            // Without the KL term or the cosine term the teacher has nothing to give.
            if distilling.alphaKD > 0 || distilling.alphaCos > 0 { teacherCheckpoint = t }
        }
        let hasNames = (labelled || tagged)
            && checkpoint.config.task == (tagged ? .tokenClassification : .sequenceClassification)
        let freshHead = newHead && !resume
        let keptHead = hasNames && !freshHead
        // A student given a fresh head learns the teacher's labels, which the KL term compares.
        let teacherNames = (distilling?.alphaKD ?? 0) > 0 && (labelled || tagged) ? teacherCheckpoint?.config.labels : nil
        let modelNames = keptHead ? checkpoint.config.labels : teacherNames
        if answering || masked, given != nil {
            throw TrainingError.badOption("--labels: \(answering ? "question answering" : "masked-LM") has no labels")
        }
        let names = try state?.labels ?? (answering || masked ? ["LABEL_0", "LABEL_1"] : tagged
            ? TaggedData.tagNames(given: given, model: modelNames, sentences: trainSentences, path: trainURL.path)
            : LabeledData.labelNames(given: given, model: modelNames, examples: trainExamples, path: trainURL.path,
                                     problem: problem))
        if state == nil, given == nil, modelNames == nil, let evalURL, !tagged {
            // --eval's labels index the same names, sorted from --train.
            try LabeledData.refuseMixedLabels(evalExamples, path: evalURL.path)
        }
        if let given {
            guard Set(given).count == given.count else {
                throw TrainingError.badOption("--labels names a label twice: \(given.joined(separator: ","))")
            }
            // A kept head's rows mean its own labels: other names (or the same in another order)
            // would silently rename or swap them.
            let own = checkpoint.config.labels
            if keptHead, !resume, given != own {
                let how = Set(given) == Set(own) ? "reorders" : "differs from"
                throw TrainingError.badOption("--labels \(given.joined(separator: ",")) \(how) the labels of the model's classification head (\(own.joined(separator: ","))); its classifier's rows keep those: pass --new-head for a fresh head")
            }
        }
        if problem == .regression {
            guard names.count == 1 else {
                throw TrainingError.badOption("regression trains a one-label head; the labels are \(names.joined(separator: ", "))\(keptHead ? " (the model's head: pass --new-head for a fresh one)" : "")")
            }
        } else if names.count < 2 {
            throw LabeledDataError.tooFewLabels(trainURL.path, names)
        }
        // The KL term compares the teacher's logits with the student's row for row.
        if let t = teacherCheckpoint, distilling!.alphaKD > 0, labelled || tagged, t.config.labels != names {
            throw TrainingError.headMismatch("the teacher's labels (\(t.config.labels.joined(separator: ","))) are not the run's (\(names.joined(separator: ","))): the KL term compares their logits label for label")
        }
        labels = names
        var prepared = masked ? checkpoint.forMaskedLM(seed: options.seed)
            : answering ? checkpoint.forQuestionAnswering(seed: options.seed)
            : tagged ? try checkpoint.forTokenClassification(labels: names, seed: options.seed, newHead: freshHead)
            : try checkpoint.forSequenceClassification(labels: names, seed: options.seed, newHead: freshHead,
                                                       problem: problem)
        savedConfig = prepared.config
        // DistilBERT's token head drops at `dropout`, not `seq_classif_dropout` (BERT's at
        // `classifier_dropout`, else `hidden_dropout_prob`, as for sequences).
        if tagged, prepared.config.modelType == .distilbert { prepared.config.dropout.classifier = prepared.config.dropout.hidden }
        if let p = options.dropout { prepared.config.dropout = .all(p) }
        let tokenizer = try BertTokenizer(modelDirectory: start)
        // run_qa.py's --max_seq_length defaults to 384; every other task to the model's positions.
        let maxLength = options.maxLength ?? (answering ? min(384, prepared.config.maxPositions) : prepared.config.maxPositions)
        guard maxLength <= prepared.config.maxPositions else {
            throw TrainingError.badOption("--max-length \(maxLength) is more than the model's \(prepared.config.maxPositions) positions")
        }
        let floats = try Self.floatTargets(problem, train: trainExamples, eval: evalExamples, names: names,
                                           paths: (trainURL.path, evalURL?.path ?? ""))
        floatTargets = floats
        // Regression and multi-label keep their targets in `floatTargets`; a class id 0 marks a labelled text.
        let classesTrain = try floats.map { $0.train.map { $0 == nil ? Int32(-1) : 0 } }
            ?? LabeledData.classes(trainExamples, labels: names, path: trainURL.path)
        let classesEval = try floats.map { $0.eval.map { $0 == nil ? Int32(-1) : 0 } }
            ?? LabeledData.classes(evalExamples, labels: names, path: evalURL?.path ?? "")
        if masked {
            (tokenTask, qaTask) = (nil, nil)
            let m = settings.maskedLM
            let blocks = MaskedLMBlocks(texts: trainTexts, tokenizer: tokenizer, maxLength: maxLength,
                                        lineByLine: m.lineByLine).blocks
            let evalBlocks = MaskedLMBlocks(texts: evalTexts, tokenizer: tokenizer, maxLength: maxLength,
                                            lineByLine: m.lineByLine).blocks
            guard !blocks.isEmpty else {
                throw LabeledDataError.badLine(trainURL.path, line: 1, "\(trainTexts.count) texts make no block of --max-length \(maxLength) tokens (pass a smaller --max-length, or --line-by-line)")
            }
            if let evalURL, evalBlocks.isEmpty {
                throw LabeledDataError.badLine(evalURL.path, line: 1, "\(evalTexts.count) texts make no block of --max-length \(maxLength) tokens (pass a smaller --max-length, or --line-by-line)")
            }
            maskedTask = MaskedLMTaskState(
                train: blocks, eval: evalBlocks,
                masking: m.masking(seed: options.seed, blocks: blocks, vocabSize: tokenizer.vocabSize),
                allTokens: m.kdAllTokens && (distilling?.alphaKD ?? 0) > 0, maskId: tokenizer.maskId,
                tokenizerVocabulary: tokenizer.vocabSize)
            train = blocks.map { (MaskedLMTaskState.encoding($0), -1) }
            eval = evalBlocks.map { (MaskedLMTaskState.encoding($0), -1) }
        } else if answering {
            (tokenTask, maskedTask) = (nil, nil)
            let windowing = QAWindowing(maxLength: maxLength, docStride: settings.docStride)
            let features = try QATrainingFeatures.training(trainQuestions, tokenizer: tokenizer, windowing: windowing,
                                                           path: trainURL.path)
            let evalFeatures = try QATrainingFeatures.training(evalQuestions, tokenizer: tokenizer, windowing: windowing,
                                                               path: evalURL?.path ?? "")
            let version2 = (trainQuestions + evalQuestions).contains { $0.answers.isEmpty }
            qaTask = QATaskState(train: features, evalExamples: evalQuestions, evalFeatures: evalFeatures,
                                 settings: settings.qaPrediction(version2: version2), version2: version2)
            train = features.map { ($0.encoding, -1) }
            eval = evalFeatures.map { ($0.encoding, -1) }
        } else if tagged {
            (qaTask, maskedTask) = (nil, nil)
            let features = try TaggedFeatures(trainSentences, names: names, path: trainURL.path, tokenizer: tokenizer,
                                              maxLength: maxLength, labelAllTokens: settings.labelAllTokens)
            let evalFeatures = try TaggedFeatures(evalSentences, names: names, path: evalURL?.path ?? "",
                                                  tokenizer: tokenizer, maxLength: maxLength,
                                                  labelAllTokens: settings.labelAllTokens)
            tokenTask = TokenTaskState(features: features, eval: evalFeatures.examples)
            // The loop batches `train`'s encodings; the per-token labels live in `tokenTask`.
            train = features.examples.map { ($0.0, -1) }
            eval = evalFeatures.examples.map { ($0.0, -1) }
        } else {
            (tokenTask, qaTask, maskedTask) = (nil, nil, nil)
            train = zip(trainExamples, classesTrain).map { (tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength), $1) }
            eval = zip(evalExamples, classesEval).map { (tokenizer.encode($0.text, pair: $0.pair, maxLength: maxLength), $1) }
        }
        trainCount = train.count
        // Opt-in, as transformers' load_best_model_at_end: only a named metric (or early
        // stopping) picks the model, so a plain --eval never selects on what it evaluates.
        if !eval.isEmpty, options.metricForBestModel != nil || options.earlyStoppingPatience != nil,
           let metric = BestModelMetric(flag: options.metricForBestModel ?? task.mainMetric(problem: problem)) {
            best = BestModelTracker(metric: metric, patience: options.earlyStoppingPatience,
                                    bestMetric: state?.bestMetric,
                                    bestCheckpoint: state?.bestModelCheckpoint.map { URL(fileURLWithPath: $0).lastPathComponent },
                                    patienceCounter: state?.earlyStoppingPatienceCounter ?? 0)
        }

        // The output folder is checked (and created) once the data and model have passed theirs.
        if let group {   // every process must train the same thing on the same data
            try group.requireAgreement(fingerprint64(Self.describe(options)), "the flags")
            try group.requireAgreement(fingerprint64(trainHash + (evalHash ?? "")), "the --train and --eval files (sha256)")
            try group.requireAgreement(fingerprint64((try? RunFolder.fingerprint(start.appendingPathComponent("model.safetensors"))) ?? directory.path),
                                       "the model (\(start.path)/model.safetensors)")
            try group.requireAgreement(UInt64(bucketBytes), "--ddp-bucket-cap-mb")
        }
        if (group?.rank ?? 0) == 0 { try folder.prepare(model: directory, resume: resume) }
        model = try EncoderModel(checkpoint: prepared, backend: backend, trainable: true)
        self.teacherPrint = teacherPrint
        dataHashes = (trainHash, evalHash)
        teacher = try teacherCheckpoint.map { t in
            Teacher(model: try EncoderModel(checkpoint: t, backend: backend), options: distilling!)
        }
        grads = try GradientTable(model.trainableParameters(), backend: backend, freezeEncoder: options.freezeEncoder)
        optimizer = try AdamWOptimizer(settings: options.optimizer(examples: train.count), gradients: grads, backend: tb)
        reducer = group.map { GradientReducer(grads: grads, layers: model.config.layers, group: $0, backend: backend,
                                              bucketBytes: bucketBytes) }
        if let state {
            let (m, v) = try RunFolder.moments(start, parameters: grads.parameters)
            try optimizer.restore(step: state.step, m: m, v: v, on: backend)
            completedEpochs = state.epoch
            history = RunFolder.readLog(start).filter { $0.step <= state.step }
            totals = state.totals ?? LoopTotals()
            lastCheckpoint = start
        }
    }

    /// The task's evaluation of `--eval` (nil without one): the code `distilcl evaluate` runs.
    func evaluate() throws -> Evaluation? {
        guard !eval.isEmpty else { return nil }
        if let maskedTask {
            // The same positions at every evaluation: the run's seed, without smoothing.
            var masking = maskedTask.masking
            masking.idWeights = nil
            return try MaskedLMEvaluation.run(model, blocks: maskedTask.eval, masking: masking, maskId: maskedTask.maskId,
                                              tokenizerVocabulary: maskedTask.tokenizerVocabulary,
                                              batchSize: options.batchSize)
        }
        if let tokenTask {
            return try TokenClassificationEvaluation.run(model, tokenTask.eval, names: labels, batchSize: options.batchSize)
        }
        if let qaTask {
            return try QuestionAnsweringEvaluation.run(model, examples: qaTask.evalExamples, features: qaTask.evalFeatures,
                                                       settings: qaTask.settings, version2: qaTask.version2,
                                                       batchSize: options.batchSize)
        }
        return try TextClassificationEvaluation.run(model, eval, problem: problem, targets: floatTargets?.eval,
                                                    batchSize: options.batchSize)
    }

    /// Regression's and multi-label classification's targets of `train` and `eval` (nil for
    /// single-label): each labelled example's `[labels]` values.
    static func floatTargets(_ problem: ProblemType, train: [LabeledExample], eval: [LabeledExample], names: [String],
                             paths: (String, String)) throws -> (train: [[Float]?], eval: [[Float]?])? {
        switch problem {
        case .singleLabel: return nil
        case .regression:
            return (try LabeledData.regressionTargets(train, path: paths.0).map { $0.map { [$0] } },
                    try LabeledData.regressionTargets(eval, path: paths.1).map { $0.map { [$0] } })
        case .multiLabel:
            return (try LabeledData.multiLabelTargets(train, labels: names, path: paths.0),
                    try LabeledData.multiLabelTargets(eval, labels: names, path: paths.1))
        }
    }

    /// `options` with what the model folder decides made explicit (a distillation's default
    /// student layers), so that a resumed run compares like with like.
    static func resolved(_ options: TrainingOptions, model directory: URL) throws -> TrainingOptions {
        guard var d = options.distillation, d.studentLayers == nil, d.student == nil else { return options }
        let config = try ModelConfig(contentsOf: directory.appendingPathComponent("config.json"))
        d.studentLayers = Checkpoint.defaultStudentLayers(teacherLayers: config.layers)
        var o = options
        o.distillation = d
        return o
    }

    static func describe(_ o: TrainingOptions) -> String {
        "epochs \(o.epochs), batch \(o.batchSize), gradient accumulation steps \(o.gradientAccumulationSteps), lr \(o.learningRate), warmup \(o.warmup), weight decay \(o.weightDecay), "
            + "max grad norm \(o.maxGradNorm), dropout \(o.dropout.map { "\($0)" } ?? "config"), seed \(o.seed), "
            + "shuffle \(o.shuffle), max length \(o.maxLength.map(String.init) ?? "model"), "
            + "lr scheduler \(o.lrScheduler.rawValue), adam betas \(o.adamBeta1)/\(o.adamBeta2), adam epsilon \(o.adamEpsilon), "
            + "max steps \(o.maxSteps.map(String.init) ?? "none"), logging steps \(o.loggingSteps.map(String.init) ?? "none"), "
            + "report to \(o.reportTo.rawValue), eval steps \(o.evalSteps.map(String.init) ?? "none"), "
            + "save steps \(o.saveSteps.map(String.init) ?? "none"), save total limit \(o.saveTotalLimit), "
            + "metric for best model \(o.metricForBestModel ?? "default"), "
            + "early stopping patience \(o.earlyStoppingPatience.map(String.init) ?? "none")"
            + (o.freezeEncoder ? ", encoder frozen" : "")
            + (o.maskedLM.map { m in
                ", line by line \(m.lineByLine), mlm probability \(m.probability), whole word masking \(m.wholeWord), "
                    + "mlm smoothing \(m.smoothing), kd all tokens \(m.kdAllTokens)"
            } ?? "")
            + (o.distillation.map { d in
                ", temperature \(d.temperature), alpha kd \(d.alphaKD), alpha ce \(d.alphaCE), alpha cos \(d.alphaCos), "
                    + "student layers \(d.studentLayers.map { $0.map(String.init).joined(separator: ",") } ?? "default")"
            } ?? "")
    }
}
