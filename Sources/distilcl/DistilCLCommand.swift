import ArgumentParser
import DistilCL

@main
struct DistilCLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distilcl",
        abstract: "Run Hugging Face BERT and DistilBERT checkpoints on OpenCL or the CPU.",
        subcommands: [DevicesCommand.self, BenchCommand.self, TokenizeCommand.self, ClassifyCommand.self, EmbedCommand.self,
                      QACommand.self, FillMaskCommand.self, NERCommand.self, ParityCommand.self, TrainCommand.self,
                      DistillCommand.self, EvaluateCommand.self, ServeCommand.self, TuneCommand.self]
    )
}
