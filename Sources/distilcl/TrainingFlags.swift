import ArgumentParser
import DistilCL
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

    @Option(name: .long, help: "Seed of the shuffle, the dropout masks and a new head's weights.")
    var seed: UInt64 = 0

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

    @Flag(name: .long, help: "Show the progress bar on stderr even when it is not a terminal.")
    var progress = false

    /// The recipe these flags give, with `--batch-size` and `--max-length` from the other groups.
    func options(batchSize: Int, maxLength: Int?) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = epochs
        o.batchSize = batchSize
        o.learningRate = learningRate
        o.warmup = warmup
        o.weightDecay = weightDecay
        o.maxGradNorm = maxGradNorm
        o.dropout = dropout
        o.seed = seed
        o.shuffle = !noShuffle
        o.maxLength = maxLength
        return o
    }

    func validate() throws {
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
    func run(model directory: () throws -> URL, device: DeviceOptions, options: TrainingOptions, verb: String,
             describe: (Trainer) -> String = { _ in "" }) throws {
        // SIGINT/SIGTERM exit 130/143 at once: what is on disk is the last complete epoch, and
        // whatever the interruption left half-written is removed when a run starts there again.
        installInterruptHandlers()
        try runReportingErrors {
            guard device.precision == .fp32 else {
                throw CLIError.usage("training runs in fp32; --precision \(device.precision) is for inference")
            }
            let directory = try directory()
            let backend: any ComputeBackend
            do { backend = try device.makeBackend() } catch { throw CLIError.from(error).asDevice }
            let trainer = try Trainer(model: directory, train: URL(fileURLWithPath: train),
                                      eval: eval.map { URL(fileURLWithPath: $0) }, labels: labelNames,
                                      output: URL(fileURLWithPath: out), backend: backend, options: options,
                                      resume: resume, newHead: newHead, resumeAnyData: resumeAnyData)
            let steps = options.stepsPerEpoch(trainer.trainCount)
            writeStderr("\(verb) \(trainer.model.config.architectures.first ?? "model") on \(backend.name)\(describe(trainer)): "
                        + "\(trainer.trainCount) texts, labels \(trainer.labels.joined(separator: ", ")), "
                        + "\(options.epochs) epochs of \(steps) steps"
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
                var line = String(format: "epoch %d/%d: step %d, train loss %.4f", r.epoch, options.epochs, r.step, r.trainLoss)
                if let l = r.evalLoss, let a = r.evalAccuracy { line += String(format: ", eval loss %.4f, eval accuracy %.4f", l, a) }
                line += String(format: ", %.1f samples/s, %.1f s", r.trainSamplesPerSecond, r.seconds)
                writeStderr(line + "\n")
            }
            try trainer.run()
            writeStderr("saved \(out) (checkpoint: \(out)/checkpoint-epoch\(options.epochs))\n")
        }
    }
}
