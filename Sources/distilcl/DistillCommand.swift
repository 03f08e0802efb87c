import ArgumentParser
import DistilCL
import Foundation

struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Distil a BERT teacher into a DistilBERT student built from its own layers (CPU path or OpenCL).",
        discussion: """
        The student is DistilBERT's: the teacher's layers --student-layers (default every other \
        one from 0: 0,2,4 of 6), its word embeddings and embedding LayerNorm, its position table \
        with token-type row 0 folded in, and, when the teacher classifies, its head (pooler → \
        pre_classifier, classifier as is). Before training, the student's hidden state after its \
        i-th layer equals the teacher's after layer --student-layers[i] with the others removed.

        The student is trained on the teacher's outputs, the teacher running in inference mode \
        (no dropout) on the same device:
          loss = α_kd·T²·KL(softmax(t/T) ‖ softmax(s/T)) + α_ce·CE(s, label) + α_cos·(1 − cos(h_s, h_t))
        with t, s the teacher's and student's logits (KL averaged over the batch), CE averaged \
        over the batch's labelled lines, and the cosine over the last hidden state of every \
        token (averaged over tokens). Lines of --train without a "label" add the KL and cosine \
        terms alone, so unlabelled text can be added; --eval needs labels. --alpha-kd 0 \
        --alpha-ce 1 trains the same student without a teacher (a baseline). --alpha-kd > 0 \
        needs a teacher with a sequence-classification head (fine-tune it with distilcl train).

        Everything else is train's (see distilcl train --help): the optimiser, schedule \
        (--lr-scheduler, --max-steps), dropout and seed flags, --logging-steps and --report-to, evaluation and OUT/train_log.jsonl after every epoch, OUT as a \
        Hugging Face DistilBertForSequenceClassification folder, OUT/checkpoint-epochN, \
        --resume (same flags) and the exit statuses.

        Example:
          distilcl distill --teacher models/minilm-sentiment --train data/movie-fit.jsonl \\
            --eval data/movie-dev.jsonl --out models/minilm-sentiment-student --lr 1e-4 --max-length 128

        --task masked-lm (or a …ForMaskedLM teacher) is DistilBERT's own, general-purpose \
        distillation on unlabelled text (--train: a text a line, or JSON Lines with "text"), \
        cut into blocks and masked as distilcl train --task masked-lm does, with the research \
        distiller's loss: α_kd (default 5)·T²·KL over the vocabulary at the masked positions \
        (every real token with --kd-all-tokens), α_mlm (--alpha-mlm, default 2)·the masked-LM \
        cross-entropy, α_cos (default 1)·(1 − cos) of the last hidden states at every real token; \
        tokens are chosen for masking with probability ∝ count^−0.7 over --train \
        (--mlm-smoothing; 0 turns it off). The student keeps the teacher's masked-LM head \
        (cls.predictions → vocab_transform, vocab_layer_norm, vocab_projector tied to its word \
        embeddings); the teacher's logits stay on the device. Large batches are the recipe: use \
        --gradient-accumulation-steps.

        Text pairs ("text_pair") are refused: the student has no token types, so it starts out \
        equal to the teacher on single texts only.

        Exit status: 0 success; 1 other failure (a loss or gradient that stops being finite, an \
        --out that cannot be written); 3 teacher folder missing or broken, not a BERT, without \
        the classification head the KL term needs, or with other labels than the data's; 4 bad \
        data (an unreadable or empty file, a line without "text", a "text_pair", an unknown \
        label, an --eval line without a label: the message gives file and line); 5 device or \
        OpenCL failure; 64 bad flag or flag value (--student-layers not increasing layer \
        indices of the teacher, a negative --alpha-*, --temperature ≤ 0, --out the teacher's \
        folder or holding a run without --resume, --resume with other flags or another \
        teacher or changed data files, --labels other than the teacher's without --new-head, \
        --precision other than fp32); 130 \
        interrupted (SIGINT), 143 (SIGTERM).
        """)

    @Option(name: .long, help: ArgumentHelp("The BERT teacher, a Hugging Face folder (fine-tuned for classification).",
                                            valueName: "dir"))
    var teacher: String

    @Option(name: .long, help: ArgumentHelp(
        "Teacher layers the student keeps, in increasing order, comma-separated.",
        discussion: "Default: every other layer from 0 (0,2,4 of 6 layers; 0,2,…,10 of 12).", valueName: "list"))
    var studentLayers: String?

    @Option(name: .long, help: ArgumentHelp(
        "Start from this checkpoint instead of cutting the teacher's layers.",
        discussion: "Any BERT or DistilBERT reading the teacher's vocabulary (a general-purpose student, say); a head it lacks is created fresh. Not with --student-layers.",
        valueName: "dir"))
    var student: String?

    @Option(name: .long, help: ArgumentHelp("T, the softmax temperature of the KL term.", valueName: "t"))
    var temperature: Float = 2

    @Option(name: .long, help: ArgumentHelp("Weight of T²·KL(teacher ‖ student).",
                                            discussion: "Default: 0.5; masked-lm 5.", valueName: "w"))
    var alphaKd: Float?

    @Option(name: .long, help: ArgumentHelp("Weight of the cross-entropy with the labels (default 0.5).", valueName: "w"))
    var alphaCe: Float?

    @Option(name: .long, help: ArgumentHelp("Masked-LM: weight of the masked-LM cross-entropy with the true tokens (default 2).",
                                            valueName: "w"))
    var alphaMlm: Float?

    @Option(name: .long, help: ArgumentHelp("Weight of 1 − cos(student, teacher) over last hidden states.",
                                            discussion: "Default: 0; masked-lm 1.", valueName: "w"))
    var alphaCos: Float?

    @Option(name: .long, help: ArgumentHelp(
        "Masked-LM: a token is chosen with probability ∝ count^−s over --train (the research distiller's --mlm_smoothing); 0 turns it off.",
        discussion: "Default: 0.7.", valueName: "s"))
    var mlmSmoothing: Double?

    @Flag(name: .long, help: "Masked-LM: the KL term over every real token, not the masked ones alone (the research distiller's restrict_ce_to_mask=False).")
    var kdAllTokens = false

    @Option(name: .long, help: ArgumentHelp(
        "Most tokens per input, [CLS] and [SEP] included; longer inputs are cut.",
        discussion: "Default: the teacher's max_position_embeddings.", valueName: "n"))
    var maxLength: Int?

    @OptionGroup var device: DeviceOptions
    @OptionGroup var recipe: TrainingFlags
    @OptionGroup var task: TaskFlags

    /// `--student-layers` parsed; nil when not given.
    func layers() throws -> [Int]? {
        guard let studentLayers else { return nil }
        let parts = studentLayers.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 >= 0 }),
              zip(values, values.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw ValidationError("--student-layers takes increasing layer indices such as 0,2,4; got '\(studentLayers)'")
        }
        return values
    }

    /// Whether the run distils masked-LM: `--task masked-lm`, or no --task and a masked-LM teacher.
    var maskedLM: Bool {
        task.task == .maskedLM
            || (task.task == nil && (try? TrainingTask.resolve(nil, model: URL(fileURLWithPath: teacher))) == .maskedLM)
    }

    /// The task flags, with the masked-LM distillation's own.
    var taskSettings: TaskSettings {
        var t = task.settings
        if maskedLM {
            t.task = .maskedLM
            t.maskedLM.smoothing = mlmSmoothing ?? 0.7
            t.maskedLM.kdAllTokens = kdAllTokens
        }
        return t
    }

    func options() throws -> TrainingOptions {
        var o = recipe.options(batchSize: device.batchSize, maxLength: maxLength)
        var d = DistillationOptions()
        let mlm = maskedLM
        if mlm, alphaCe != nil {
            throw ValidationError("--alpha-ce: masked-lm's hard term is the masked-LM loss, weighted by --alpha-mlm")
        }
        if !mlm {
            for (flag, given) in [("--alpha-mlm", alphaMlm != nil), ("--mlm-smoothing", mlmSmoothing != nil),
                                  ("--kd-all-tokens", kdAllTokens)] where given {
                throw ValidationError("\(flag) is for --task masked-lm")
            }
        }
        d.temperature = temperature
        // The DistilBERT paper's weights for masked-LM (the research distiller's 5, 2, 1).
        d.alphaKD = alphaKd ?? (mlm ? 5 : 0.5)
        d.alphaCE = (mlm ? alphaMlm : alphaCe) ?? (mlm ? 2 : 0.5)
        d.alphaCos = alphaCos ?? (mlm ? 1 : 0)
        d.studentLayers = try layers()
        d.student = student
        o.distillation = d
        return o
    }

    func validate() throws {
        if let maxLength, maxLength < 3 {
            throw ValidationError("--max-length must be at least 3 (room for [CLS], a token and [SEP]), got \(maxLength)")
        }
        do { try options().validate() } catch let e as ValidationError { throw e } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let options = try options()
        let d = options.distillation!
        let mlm = maskedLM
        try recipe.run(model: requireTeacher, device: device, options: options, verb: "distilling",
                       task: taskSettings, describe: { t in
                           String(format: " from %@ (T %g, α_kd %g, %@ %g, α_cos %g)", teacher,
                                  Double(d.temperature), Double(d.alphaKD), mlm ? "α_mlm" : "α_ce", Double(d.alphaCE),
                                  Double(d.alphaCos))
                       })
    }

    /// The teacher's folder, or `CLIError.model`.
    func requireTeacher() throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: teacher, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError.model("teacher folder '\(teacher)' not found (a Hugging Face BERT folder, e.g. from distilcl train)")
        }
        return URL(fileURLWithPath: teacher)
    }
}
