@testable import DistilCL
import Foundation
import Testing

/// The training types: a linear layer's trainable view, the model writer, the sha256 a
/// checkpoint keeps of its data, a data file's label kinds, and the recovery of an
/// interrupted save.
@Suite("Training types")
struct TrainingTypesTests {
    static func trainableModel() throws -> EncoderModel {
        try EncoderModel(directory: Fixtures.model("tiny-distilbert-sst"), backend: CPUBackend(), trainable: true)
    }

    @Test("TrainableLinear: the layer's plain weight and bias with their gradients and optimizer slots")
    func trainableLinear() throws {
        let model = try Self.trainableModel()
        let grads = try GradientTable(model.trainableParameters(), backend: model.backend)
        let classifier = try #require(model.heads.classifier)
        let view = try grads.linear(classifier)
        #expect(grads.parameters[view.weightSlot].names == ["classifier.weight"])
        #expect(grads.parameters[view.weightSlot].shape == [view.outFeatures, view.inFeatures])
        let biasSlot = try #require(view.biasSlot)
        #expect(grads.parameters[biasSlot].names == ["classifier.bias"])
        #expect(view.weight === grads.parameters[view.weightSlot].value)
        #expect(view.gradWeight === grads.gradients[view.weightSlot])
        #expect(view.gradBias.map { $0 === grads.gradients[biasSlot] } == true)
        // The fused Q, K, V projection is one parameter under three names.
        let qkv = try grads.linear(model.layers[0].qkv)
        #expect(grads.parameters[qkv.weightSlot].names.count == 3)
    }

    @Test("a layer loaded for inference has no trainable view: an error, not a crash")
    func inferenceLayerRefused() throws {
        let model = try EncoderModel(directory: Fixtures.model("tiny-distilbert-sst"), backend: CPUBackend())
        let classifier = try #require(model.heads.classifier)
        #expect(throws: TrainingError.self) { try classifier.trainableWeight() }
        #expect(throws: TrainingError.self) { try model.trainableParameters() }
        let trained = try Self.trainableModel()
        let grads = try GradientTable(trained.trainableParameters(), backend: trained.backend)
        #expect(throws: TrainingError.self) { try grads.linear(classifier) }   // not one of the table's layers
    }

    @Test("Checkpoint.write(model:) saves a model without an optimizer; it reloads with the same tensors and logits")
    func writeModel() throws {
        let folder = try TemporaryFolder()
        let model = try Self.trainableModel()
        try Checkpoint.write(model: model, config: model.config.jsonObject(), to: folder.url)
        let source = try SafeTensorsFile(url: Fixtures.model("tiny-distilbert-sst").appendingPathComponent("model.safetensors"))
        let written = try SafeTensorsFile(url: folder.file("model.safetensors"))
        #expect(Set(written.names).isSubset(of: Set(source.names)), "\(Set(written.names).subtracting(source.names))")
        for name in written.names { #expect(try written.floats(name) == (try source.floats(name)), "\(name)") }
        let reloaded = try EncoderModel(directory: folder.url, backend: CPUBackend())
        let tokenizer = try BertTokenizer(modelDirectory: Fixtures.model("tiny-distilbert-sst"))
        let batch = TokenBatch(["a dull, plodding mess", "Wonderful."].map { tokenizer.encode($0) })
        #expect(try reloaded.classificationLogits(batch) == (try model.classificationLogits(batch)))
    }

    @Test("SHA256 of known inputs (FIPS 180-4 examples)")
    func sha256() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)   // two blocks
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("names sorted from a file that also gives class indices are refused at the first line of the other kind")
    func mixedLabels() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("mixed.jsonl")
        try Data("""
            {"text": "a", "label": "POSITIVE"}
            {"text": "b"}
            {"text": "c", "label": 1}
            {"text": "d", "label": 0}
            """.utf8).write(to: url)
        let examples = try LabeledData.read(url, labelsOptional: true)
        do {
            _ = try LabeledData.labelNames(given: nil, model: nil, examples: examples, path: url.path)
            Issue.record("mixed names and indices were accepted with names sorted from the file")
        } catch let LabeledDataError.badLine(_, line, why) {
            #expect(line == 3 && why.contains("class index") && why.contains("line 1"), "\(line): \(why)")
        }
        // Under a fixed table (--labels or the model's id2label) an index is that table's row.
        #expect(try LabeledData.labelNames(given: nil, model: ["NEGATIVE", "POSITIVE"], examples: examples,
                                           path: url.path) == ["NEGATIVE", "POSITIVE"])
        try Data("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 0}\n".utf8).write(to: url)
        #expect(try LabeledData.labelNames(given: nil, model: nil, examples: try LabeledData.read(url), path: url.path)
                == ["LABEL_0", "LABEL_1"])
    }

    @Test("CRLF line ends read line by line; a JSON boolean is not a class index")
    func crlfAndBooleans() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("crlf.jsonl")
        try Data("{\"text\": \"a\", \"label\": 0}\r\n{\"text\": \"b\", \"label\": 1}\r\n".utf8).write(to: url)
        let examples = try LabeledData.read(url)
        #expect(examples.map(\.text) == ["a", "b"] && examples.map(\.line) == [1, 2])
        try Data("{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": true}\n".utf8).write(to: url)
        #expect(throws: LabeledDataError.badLine(url.path, line: 2, "\"label\" must be a name, a class index ≥ 0, a number (regression) or a list (multi-label)")) {
            try LabeledData.read(url)
        }
    }
}
