/// The distillation part of a recipe (`distilcl distill`): the loss
/// `α_kd·T²·KL(softmax(t/T) ‖ softmax(s/T)) + α_ce·CE(s, label) + α_cos·(1 − cos(h_s, h_t))`
/// over the teacher's and student's logits t, s and last hidden states h_t, h_s, and the
/// teacher's layers the student keeps. Defaults: T = 2, KL and CE weighted equally, the cosine
/// term off (the DistilBERT paper's T, without its masked-LM objective).
public struct DistillationOptions: Sendable, Equatable, Codable {
    public var temperature: Float = 2
    public var alphaKD: Float = 0.5
    public var alphaCE: Float = 0.5
    public var alphaCos: Float = 0
    /// The teacher's layers the student starts from, in order; nil for every other layer
    /// from 0 (`Checkpoint.defaultStudentLayers`).
    public var studentLayers: [Int]?
    /// `--student DIR`: start from this checkpoint (any BERT or DistilBERT with the teacher's
    /// vocabulary) instead of cutting the teacher's layers; a head it lacks is created fresh.
    public var student: String?

    public init() {}

    /// Checks the values a user gives.
    public func validate() throws {
        func bad(_ what: String) -> TrainingError { .badOption(what) }
        guard temperature.isFinite, temperature > 0 else { throw bad("--temperature must be positive, got \(temperature)") }
        for (name, value) in [("--alpha-kd", alphaKD), ("--alpha-ce", alphaCE), ("--alpha-cos", alphaCos)] {
            guard value.isFinite, value >= 0 else { throw bad("\(name) must be ≥ 0, got \(value)") }
        }
        guard alphaKD + alphaCE + alphaCos > 0 else {
            throw bad("--alpha-kd, --alpha-ce and --alpha-cos are all 0: nothing to train on")
        }
        if let layers = studentLayers, layers.isEmpty { throw bad("--student-layers names no layer") }
        if student != nil, studentLayers != nil {
            throw bad("--student starts from a given checkpoint; --student-layers cuts the teacher's: pass one")
        }
    }
}
