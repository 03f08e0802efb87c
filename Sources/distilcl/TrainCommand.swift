import ArgumentParser
import DistilCL
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a checkpoint for text classification on JSON Lines data (CPU path or OpenCL).",
        discussion: """
        --train and --eval: one JSON object a line, {"text": …, "label": …} with an optional \
        "text_pair"; the label is a name or a class index (one or the other throughout a file). \
        Labels: --labels NAME,NAME,… fixes their order; otherwise the model's id2label, else the \
        sorted names in --train. A sequence-classification model keeps its head and its labels: \
        --labels naming others (even as many) is refused unless --new-head gives it a fresh head.

        --model may be a sequence-classification checkpoint (trained further) or a bare encoder \
        such as all-MiniLM-L6-v2, which gets a new head as transformers adds one: BERT the \
        pooler (kept when present) then a classifier; DistilBERT pre_classifier + ReLU then a \
        classifier; initialised N(0, initializer_range) from --seed. The recipe is transformers' \
        Trainer's: AdamW (--adam-beta1 0.9, --adam-beta2 0.999, --adam-epsilon 1e-8, no weight \
        decay on biases and LayerNorm weights), the global gradient norm clipped to \
        --max-grad-norm, the learning rate warmed up linearly over --warmup of all steps then, \
        by --lr-scheduler, decayed linearly to 0 (linear, the default), along half a cosine wave \
        to 0 (cosine) or held (constant_with_warmup), as transformers' get_*_schedule_with_warmup; \
        the mean cross-entropy, dropout as the config sets it (--dropout P sets every rate; 0 \
        turns it off). --max-steps N stops after N optimiser steps whatever --epochs says (the \
        schedule spans N steps; the last epoch may be cut short).

        After every epoch: evaluation (loss, accuracy) on --eval, a line on stderr and in \
        OUT/train_log.jsonl ({"epoch", "step", "train_loss", "eval_loss", "eval_accuracy", \
        "train_samples_per_second", "seconds"}), and a checkpoint: OUT holds the model as a \
        Hugging Face folder (config.json with id2label, model.safetensors in float32 with \
        transformers' key names, the tokenizer files), loadable with from_pretrained, and \
        OUT/checkpoint-epochN the same plus optimizer.safetensors and trainer_state.json. Both \
        are written atomically: an interrupted run leaves the last complete epoch, and \
        --resume (same flags, and --train and --eval with the same bytes: each checkpoint keeps \
        their sha256; --resume-any-data accepts changed files) continues from it to the same \
        result as an uninterrupted run. A save writes the new folder beside OUT (.OUT.partial, \
        .OUT.new) and swaps it in: killed at any moment, OUT holds the previous epoch's model or \
        the new one, and the next run repairs an interrupted swap before anything else.

        --logging-steps N adds a line to OUT/train_log.jsonl every N steps, before its epoch's \
        line, as transformers logs them: {"loss" (mean since the previous line), "learning_rate" \
        (the next step's: the scheduler has stepped), "grad_norm" (before clipping), \
        "samples_per_second", "step", "epoch" (fractional)}; the last line is always an epoch's. \
        --report-to tensorboard writes the same scalars (train/loss, train/learning_rate, \
        train/grad_norm, train/epoch) and each evaluation (eval/loss, eval/accuracy) as TensorBoard \
        event files in OUT/runs/ (tensorboard --logdir OUT/runs). A run cut short by --max-steps \
        saves its last checkpoint as OUT/checkpoint-N (N its steps), as transformers names them; \
        --resume continues from either kind.

        --task masked-lm (or a …ForMaskedLM model) trains the masked-language-model objective \
        on unlabelled text: --train and --eval hold a text a line (or JSON Lines with "text"); as \
        run_mlm.py, the texts with their [CLS] and [SEP] are concatenated and cut into blocks of \
        --max-length tokens, the remainder dropped (--line-by-line: one text a block). Each \
        epoch masks every block afresh (keyed by --seed, epoch, block and position, so a resumed \
        run masks as an uninterrupted one): --mlm-probability (0.15) of the tokens are predicted, \
        80% of them read [MASK], 10% a random token, 10% themselves, special tokens never \
        (--whole-word-masking: every piece of a chosen word). A bare encoder gets transformers' \
        masked-LM head (BERT cls.predictions.transform + decoder, DistilBERT vocab_transform, \
        vocab_layer_norm, vocab_projector) with the decoder tied to the word embeddings; the \
        decoder runs over the masked positions alone. Evaluation: eval_loss (mean cross-entropy \
        over the masked tokens), eval_accuracy (tokens predicted exactly) and eval_perplexity, \
        on --eval masked from --seed the same way at every evaluation.

        A loss that becomes NaN or infinite stops the run (status 1) before the weights change; \
        the last checkpoint stays as it was.

        Example:
          distilcl train --model models/all-MiniLM-L6-v2 --train data/movie-fit.jsonl \\
            --eval data/movie-dev.jsonl --out models/minilm-sentiment --lr 1e-4 --max-length 128

        Exit status: 0 success; 1 other failure (a loss or gradient that stops being finite, an \
        --out that cannot be written); 3 model folder missing or broken, or a model that cannot \
        take a sequence-classification head (a token classifier; a head with another label \
        count); 4 bad data (unreadable or empty file, a line that is not a JSON object or lacks \
        "text" or "label", an unknown label, names and class indices mixed in one file, fewer \
        than 2 labels: the message gives file and line); 5 device or OpenCL failure; 64 bad flag or flag value (also: --out is the model \
        folder or holds another model, or a run without --resume; --resume with nothing to \
        resume, other flags or changed data files; --labels that repeat, or differ from a kept \
        head's without --new-head; --precision other than fp32; an unknown --lr-scheduler or \
        --report-to; --adam-beta1/2 outside [0, 1), --adam-epsilon ≤ 0, --max-steps or \
        --logging-steps below 1); 130 interrupted (SIGINT), 143 (SIGTERM).
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @OptionGroup var recipe: TrainingFlags
    @OptionGroup var task: TaskFlags

    var options: TrainingOptions { recipe.options(batchSize: device.batchSize, maxLength: model.maxLength) }

    func validate() throws {
        do { try options.validate() } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        try recipe.run(model: model.requireDirectory, device: device, options: options, verb: "training",
                       task: task.settings)
    }
}

extension CLIError {
    /// A failure while making the backend is the device's, unless it is a usage error.
    var asDevice: CLIError { status == .failure ? .device(message) : self }
}
