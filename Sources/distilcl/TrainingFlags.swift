import ArgumentParser
import DistilCL
import DistilCLMPI
import Foundation

/// The data, recipe and output flags `train` and `distill` share.
struct TrainingFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Training data, JSON Lines: {\"text\": …, \"label\": …} a line.", valueName: "file"))
    var train: String

    @Option(name: .long, help: ArgumentHelp("Evaluation data after every epoch, JSON Lines.", valueName: "file"))
    var eval: String?

    @Option(name: .long, help: ArgumentHelp("Where the trained model and its checkpoints go.", valueName: "dir"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Label names in class order, comma-separated.", valueName: "names"))
    var labels: String?

    @Option(name: .long, help: "Passes over the training data.")
    var epochs = 3

    @Option(name: .long, help: ArgumentHelp(
        "One optimiser step every N micro-batches of --batch-size texts (an effective batch of N × --batch-size).",
        discussion: "The loss is averaged over the whole step's texts and dropout is drawn per text, so 4 × 8 trains "
            + "as one batch of 32. Steps, --max-steps, the warm-up and the --*-steps flags count optimiser steps; an "
            + "epoch's last step takes the micro-batches left over. Default 1.", valueName: "n"))
    var gradientAccumulationSteps = 1

    @Option(name: .customLong("lr"), help: ArgumentHelp("Peak learning rate.", valueName: "rate"))
    var learningRate: Float = 5e-5

    @Option(name: .long, help: ArgumentHelp("Warm-up, as a fraction of all steps (rounded up).", valueName: "fraction"))
    var warmup: Float = 0.1

    @Option(name: .long, help: ArgumentHelp("AdamW's decoupled weight decay (not on biases and LayerNorm weights).",
                                            valueName: "w"))
    var weightDecay: Float = 0.01

    @Option(name: .long, help: ArgumentHelp("Clip the global gradient norm to this (0: no clipping).", valueName: "norm"))
    var maxGradNorm: Float = 1

    @Option(name: .long, help: ArgumentHelp("Every dropout rate (0 turns dropout off). Default: the config's.",
                                            valueName: "p"))
    var dropout: Float?

    @Option(name: .long, help: ArgumentHelp(
        "The learning rate after the warm-up: linear (to 0), cosine (half a wave to 0), constant_with_warmup.",
        valueName: "name"))
    var lrScheduler = "linear"

    @Option(name: .long, help: ArgumentHelp("AdamW's β₁, in [0, 1).", valueName: "b"))
    var adamBeta1: Float = 0.9

    @Option(name: .long, help: ArgumentHelp("AdamW's β₂, in [0, 1).", valueName: "b"))
    var adamBeta2: Float = 0.999

    @Option(name: .long, help: ArgumentHelp("AdamW's ε (> 0).", valueName: "eps"))
    var adamEpsilon: Float = 1e-8

    @Option(name: .long, help: ArgumentHelp(
        "Stop after this many optimiser steps, whatever --epochs says.",
        discussion: "The schedule (warm-up and decay) spans these steps; the last epoch may be cut short "
            + "(its checkpoint is then OUT/checkpoint-N).", valueName: "n"))
    var maxSteps: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Add a line to OUT/train_log.jsonl every N optimiser steps.",
        discussion: "{\"loss\" (mean since the last line), \"learning_rate\" (after the step, as transformers logs "
            + "it), \"grad_norm\" (before clipping), \"samples_per_second\", \"step\", \"epoch\" (fractional)}. "
            + "Default: none; the per-epoch lines are written either way.", valueName: "n"))
    var loggingSteps: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Also evaluate on --eval every N optimiser steps (a train_log.jsonl line {eval_loss, eval_accuracy, step, epoch}).",
        discussion: "Besides each epoch's end, which always evaluates. Default: at the epochs' ends only.",
        valueName: "n"))
    var evalSteps: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Also save OUT/checkpoint-N every N optimiser steps.",
        discussion: "Besides each epoch's end, which always saves. Default: at the epochs' ends only.", valueName: "n"))
    var saveSteps: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Checkpoint folders kept in OUT: the oldest go first, never the best one.",
        discussion: "Default 1: the newest only (and, with --eval, the best one when it is another); more keeps more.",
        valueName: "k"))
    var saveTotalLimit = 1

    @Option(name: .long, help: ArgumentHelp(
        "With --eval, the metric that picks the best checkpoint: accuracy, f1, precision, recall, pearson (maximised), loss or mse (minimised).",
        discussion: "eval_accuracy, eval_f1, … are the same. Every evaluation counts; the best one is saved and kept, "
            + "and at the end OUT's top-level model is the best checkpoint's (trainer_state.json: best_metric, "
            + "best_model_checkpoint). Default: none (the last model is OUT's); with --early-stopping-patience, the "
            + "task's main metric (accuracy; f1 for token classification and question answering; mse for regression; loss for masked-LM).",
        valueName: "name"))
    var metricForBestModel: String?

    @Option(name: .long, help: ArgumentHelp(
        "With --eval, stop after N evaluations in a row without improving the best metric.",
        discussion: "OUT's top-level model is then the best checkpoint's. Default: never stop early.", valueName: "n"))
    var earlyStoppingPatience: Int?

    @Option(name: .long, help: ArgumentHelp(
        "none, or tensorboard: the logged scalars and evaluations as TensorBoard event files in OUT/runs/.",
        valueName: "target"))
    var reportTo = "none"

    @Option(name: .long, help: "Seed of the shuffle, the dropout masks and a new head's weights.")
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp(
        "Threads of the CPU path (GEMMs and loops).",
        discussion: "Default: the cores this process may run on (under mpirun, the cores it is bound to).", valueName: "n"))
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Under mpirun: the size of the gradient buckets summed while the backward pass runs (transformers' ddp_bucket_cap_mb).",
        discussion: "Each bucket's MPI_Iallreduce starts once its layers' backward is done. Every process must give the same.",
        valueName: "MB"))
    var ddpBucketCapMb: Double = 25

    @Flag(name: .long, help: "Batches of consecutive lines in file order instead of a seeded shuffle each epoch.")
    var noShuffle = false

    @Flag(name: .long, help: "Continue the run in --out from its last complete epoch.")
    var resume = false

    @Flag(name: .long, help: ArgumentHelp(
        "With --resume: continue although --train or --eval changed since the run began.",
        discussion: "Without it a changed file (its sha256 is kept in each checkpoint) is refused."))
    var resumeAnyData = false

    @Flag(name: .long, help: ArgumentHelp(
        "Give a sequence-classification model a fresh head (N(0, initializer_range) from --seed).",
        discussion: "Needed for --labels other than its own: its classifier's rows mean its own labels."))
    var newHead = false

    @Flag(name: .long, help: ArgumentHelp(
        "Train the head alone: the encoder (embeddings, layers, BERT's pooler) keeps its weights.",
        discussion: "As PyTorch with model.base_model.requires_grad_(False): no backward through the encoder, its "
            + "parameters out of AdamW and the clipping norm. A masked-LM decoder tied to the word embeddings stays "
            + "frozen with them; its bias and transform train (a fresh head's accuracy before adapting the encoder). "
            + "A BERT pooler the checkpoint lacks is created fresh and frozen too, as in PyTorch."))
    var freezeEncoder = false

    @Flag(name: .long, help: "Show the progress bar on stderr even when it is not a terminal.")
    var progress = false

    /// The recipe these flags give, with `--batch-size` and `--max-length` from the other groups.
    func options(batchSize: Int, maxLength: Int?) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = epochs
        o.batchSize = batchSize
        o.gradientAccumulationSteps = gradientAccumulationSteps
        o.learningRate = learningRate
        o.warmup = warmup
        o.weightDecay = weightDecay
        o.maxGradNorm = maxGradNorm
        o.dropout = dropout
        o.seed = seed
        o.shuffle = !noShuffle
        o.maxLength = maxLength
        o.lrScheduler = LRScheduler(rawValue: lrScheduler) ?? .linear   // validate() refuses other names
        o.adamBeta1 = adamBeta1
        o.adamBeta2 = adamBeta2
        o.adamEpsilon = adamEpsilon
        o.maxSteps = maxSteps
        o.loggingSteps = loggingSteps
        o.evalSteps = evalSteps
        o.saveSteps = saveSteps
        o.saveTotalLimit = saveTotalLimit
        o.metricForBestModel = metricForBestModel
        o.earlyStoppingPatience = earlyStoppingPatience
        o.reportTo = ReportTarget(rawValue: reportTo) ?? .none
        o.freezeEncoder = freezeEncoder
        return o
    }

    func validate() throws {
        guard LRScheduler(rawValue: lrScheduler) != nil else {
            throw ValidationError("--lr-scheduler takes \(LRScheduler.allCases.map(\.rawValue).joined(separator: ", ")); got '\(lrScheduler)'")
        }
        // The values themselves are checked once, by TrainingOptions.validate (each command's
        // validate calls it); here only what needs the flags beside them.
        for (flag, given) in [("--eval-steps", evalSteps != nil), ("--metric-for-best-model", metricForBestModel != nil),
                              ("--early-stopping-patience", earlyStoppingPatience != nil)] where given && eval == nil {
            throw ValidationError("\(flag) needs --eval (the data to evaluate on)")
        }
        guard ReportTarget(rawValue: reportTo) != nil else {
            throw ValidationError("--report-to takes \(ReportTarget.allCases.map(\.rawValue).joined(separator: ", ")); got '\(reportTo)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads takes a count of 1 or more, got \(threads)") }
        guard ddpBucketCapMb > 0, ddpBucketCapMb <= 4096 else {
            throw ValidationError("--ddp-bucket-cap-mb takes a size in MB above 0 and at most 4096, got \(ddpBucketCapMb)")
        }
        if let labels, labels.split(separator: ",").count < 2 {
            throw ValidationError("--labels needs at least two comma-separated names, got '\(labels)'")
        }
    }

    /// `--labels` split and trimmed.
    var labelNames: [String]? {
        labels.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
    }

    /// Builds the trainer over `model` on the device `device` names, runs every epoch with a
    /// progress bar and a line per epoch on stderr, and reports any failure with its exit status.
    /// `verb` opens the first line ("training", "distilling").
    /// What a task's training examples are called.
    static func unit(_ task: TrainingTask) -> String {
        switch task {
        case .textClassification: "texts"
        case .tokenClassification: "sentences"
        case .questionAnswering: "windows"
        case .maskedLM: "blocks"
        }
    }

    func run(model directory: () throws -> URL, device: DeviceOptions, options: TrainingOptions, verb: String,
             task: TaskSettings, describe: (Trainer) -> String = { _ in "" }) throws {
        // SIGINT/SIGTERM exit 130/143 at once: what is on disk is the last complete epoch, and
        // whatever the interruption left half-written is removed when a run starts there again.
        installInterruptHandlers()
        try runReportingErrors {
            guard device.precision == .fp32 else {
                throw CLIError.usage("training runs in fp32; --precision \(device.precision) is for inference")
            }
            let directory = try directory()
            if let threads { CPUBackend.threads = threads }
            // Under mpirun/srun: one data-parallel process of the job (rank 0 alone reports and writes).
            let group = MPIProcessGroup.launched ? try MPIProcessGroup() : nil
            let speaks = (group?.rank ?? 0) == 0
            let backend: any ComputeBackend
            do {
                backend = try device.makeBackend(localRank: group.map { g in MPIProcessGroup.localRank ?? g.rank })
            } catch { throw CLIError.from(error).asDevice }
            let trainer = try Trainer(model: directory, train: URL(fileURLWithPath: train),
                                      eval: eval.map { URL(fileURLWithPath: $0) }, labels: labelNames,
                                      output: URL(fileURLWithPath: out), backend: backend, options: options,
                                      resume: resume, newHead: newHead, resumeAnyData: resumeAnyData, settings: task,
                                      group: group, bucketBytes: Int(ddpBucketCapMb * 1_048_576))
            let o = trainer.options
            let steps = o.stepsPerEpoch(trainer.trainCount), epochs = o.epochCount(trainer.trainCount)
            let processes = group.map { ", \($0.size) processes × batch \(o.batchSize)" } ?? ""
            guard speaks else {
                try trainer.run()
                group?.finalize()
                return
            }
            writeStderr("\(verb) \(trainer.model.config.architectures.first ?? "model") on \(backend.name)\(describe(trainer)): "
                        + "\(trainer.trainCount) \(Self.unit(trainer.task)), "
                        + ([.textClassification, .tokenClassification].contains(trainer.task)
                           ? "labels \(trainer.labels.joined(separator: ", ")), " : "")
                        + "\(epochs) epochs of \(steps) steps\(processes)"
                        + (options.maxSteps.map { ", stopping after step \($0)" } ?? "")
                        + (trainer.completedEpochs > 0 ? ", resuming after epoch \(trainer.completedEpochs)" : "") + "\n")
            var bar: Progress?
            trainer.onStep = { r in
                if r.step == 1 { bar = Progress.make(total: r.stepsPerEpoch, force: progress); bar?.unit = "steps" }
                bar?.detail = String(format: "epoch %d  loss %.4f  %.1f samples/s", r.epoch, r.loss, r.samplesPerSecond)
                bar?.advance(by: 1)
            }
            trainer.onEpoch = { r in
                bar?.finish()
                bar = nil
                var line = String(format: "epoch %d/%d: step %d, train loss %.4f", r.epoch, epochs, r.step, r.trainLoss)
                if let l = r.evalLoss { line += String(format: ", eval loss %.4f", l) }
                if let f = r.evalF1, trainer.task != .textClassification { line += String(format: ", eval f1 %.4f", f) }
                if let a = r.evalAccuracy { line += String(format: ", eval accuracy %.4f", a) }
                if let m = r.evalMSE { line += String(format: ", eval mse %.4f", m) }
                if let p = r.evalPearson { line += String(format: ", eval pearson %.4f", p) }
                if let p = r.evalPerplexity { line += String(format: ", eval perplexity %.3f", p) }
                line += String(format: ", %.1f samples/s, %.1f s", r.trainSamplesPerSecond, r.seconds)
                writeStderr(line + "\n")
            }
            try trainer.run()
            let checkpoint = trainer.lastCheckpoint.map { "\(out)/\($0.lastPathComponent)" } ?? out
            let best = trainer.bestCheckpoint.map { ", best: \(out)/\($0.lastPathComponent)" } ?? ""
            writeStderr("saved \(out) (checkpoint: \(checkpoint)\(best))\n")
            group?.finalize()
        }
    }
}
