import ArgumentParser
import DistilCL
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a checkpoint for text classification on JSON Lines data (CPU path or OpenCL).",
        discussion: """
        --train and --eval: one JSON object a line, {"text": …, "label": …} with an optional \
        "text_pair"; the label is a name or a class index. Labels: --labels NAME,NAME,… fixes \
        their order; otherwise the model's id2label, else the sorted names in --train.

        --model may be a sequence-classification checkpoint (trained further) or a bare encoder \
        such as all-MiniLM-L6-v2, which gets a new head as transformers adds one: BERT the \
        pooler (kept when present) then a classifier; DistilBERT pre_classifier + ReLU then a \
        classifier; initialised N(0, initializer_range) from --seed. The recipe is transformers' \
        Trainer's: AdamW (betas 0.9/0.999, eps 1e-8, no weight decay on biases and LayerNorm \
        weights), the global gradient norm clipped to --max-grad-norm, the learning rate warmed \
        up linearly over --warmup of all steps then decayed linearly to 0, the mean \
        cross-entropy, dropout as the config sets it (--dropout P sets every rate; 0 turns it off).

        After every epoch: evaluation (loss, accuracy) on --eval, a line on stderr and in \
        OUT/train_log.jsonl ({"epoch", "step", "train_loss", "eval_loss", "eval_accuracy", \
        "train_samples_per_second", "seconds"}), and a checkpoint: OUT holds the model as a \
        Hugging Face folder (config.json with id2label, model.safetensors in float32 with \
        transformers' key names, the tokenizer files), loadable with from_pretrained, and \
        OUT/checkpoint-epochN the same plus optimizer.safetensors and trainer_state.json. Both \
        are written atomically: an interrupted run leaves the last complete epoch, and \
        --resume (same flags) continues from it to the same result as an uninterrupted run.

        A loss that becomes NaN or infinite stops the run (status 1) before the weights change; \
        the last checkpoint stays as it was.

        Example:
          distilcl train --model models/all-MiniLM-L6-v2 --train data/movie-train.jsonl \\
            --eval data/movie-test.jsonl --out models/minilm-sentiment --lr 1e-4 --max-length 128

        Exit status: 0 success; 1 other failure (a loss or gradient that stops being finite, an \
        --out that cannot be written); 3 model folder missing or broken, or a model that cannot \
        take a sequence-classification head (a token classifier; a head with another label \
        count); 4 bad data (unreadable or empty file, a line that is not a JSON object or lacks \
        "text" or "label", an unknown label, fewer than 2 labels: the message gives file and \
        line); 5 device or OpenCL failure; 64 bad flag or flag value (also: --out is the model \
        folder or holds another model, or a run without --resume; --resume with nothing to \
        resume or other flags; --labels that repeat or reorder the model's; --precision other \
        than fp32); 130 interrupted (SIGINT), 143 (SIGTERM).
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @Option(name: .long, help: ArgumentHelp("Training data, JSON Lines (see below).", valueName: "file"))
    var train: String

    @Option(name: .long, help: ArgumentHelp("Evaluation data after every epoch, JSON Lines.", valueName: "file"))
    var eval: String?

    @Option(name: .long, help: ArgumentHelp("Where the fine-tuned model and its checkpoints go.", valueName: "dir"))
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

    @Flag(name: .long, help: "Show the progress bar on stderr even when it is not a terminal.")
    var progress = false

    var options: TrainingOptions {
        var o = TrainingOptions()
        o.epochs = epochs
        o.batchSize = device.batchSize
        o.learningRate = learningRate
        o.warmup = warmup
        o.weightDecay = weightDecay
        o.maxGradNorm = maxGradNorm
        o.dropout = dropout
        o.seed = seed
        o.shuffle = !noShuffle
        o.maxLength = model.maxLength
        return o
    }

    func validate() throws {
        do { try options.validate() } catch { throw ValidationError("\(error)") }
        if let labels, labels.split(separator: ",").count < 2 {
            throw ValidationError("--labels needs at least two comma-separated names, got '\(labels)'")
        }
    }

    func run() throws {
        // SIGINT/SIGTERM exit 130/143 at once: what is on disk is the last complete epoch, and
        // whatever the interruption left half-written is removed when a run starts there again.
        installInterruptHandlers()
        try runReportingErrors {
            guard device.precision == .fp32 else {
                throw CLIError.usage("training runs in fp32; --precision \(device.precision) is for inference")
            }
            let directory = try model.requireDirectory()
            let backend: any ComputeBackend
            do { backend = try device.makeBackend() } catch { throw CLIError.from(error).asDevice }
            let names = labels.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            let trainer = try Trainer(model: directory, train: URL(fileURLWithPath: train),
                                      eval: eval.map { URL(fileURLWithPath: $0) }, labels: names,
                                      output: URL(fileURLWithPath: out), backend: backend, options: options,
                                      resume: resume)
            let steps = options.stepsPerEpoch(trainer.trainCount)
            writeStderr("training \(trainer.model.config.architectures.first ?? "model") on \(backend.name): "
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

extension CLIError {
    /// A failure while making the backend is the device's, unless it is a usage error.
    var asDevice: CLIError { status == .failure ? .device(message) : self }
}
