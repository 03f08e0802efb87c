import Foundation
import Testing
@testable import DistilCL

// MARK: - Helpers

private let fixturesRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")
private let repositoryRoot = fixturesRoot.deletingLastPathComponent().deletingLastPathComponent()

private func fixture(_ name: String) -> URL { fixturesRoot.appendingPathComponent(name) }

/// A safetensors tensor as raw bytes, read or written by the tests independently of the loader.
private struct RawTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: Data
}

/// Independent reader: 8-byte LE length, JSON header, data section, via Foundation only.
private func readRaw(_ url: URL) throws -> [RawTensor] {
    let file = try Data(contentsOf: url)
    let length = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = try #require(try JSONSerialization.jsonObject(with: file.subdata(in: 8..<8 + length)) as? [String: Any])
    return try header.keys.sorted().filter { $0 != "__metadata__" }.map { name in
        let entry = try #require(header[name] as? [String: Any])
        let offsets = try #require(entry["data_offsets"] as? [Int])
        return RawTensor(name: name, dtype: try #require(entry["dtype"] as? String),
                         shape: try #require(entry["shape"] as? [Int]),
                         bytes: file.subdata(in: 8 + length + offsets[0]..<8 + length + offsets[1]))
    }
}

/// Writes `header` (JSON) and `data` in safetensors framing; `lengthOverride` lies about the header length.
private func writeFile(_ url: URL, header: [String: Any], data: Data = Data(), lengthOverride: UInt64? = nil) throws {
    let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    try writeFile(url, headerBytes: json, data: data, lengthOverride: lengthOverride)
}

private func writeFile(_ url: URL, headerBytes: Data, data: Data = Data(), lengthOverride: UInt64? = nil) throws {
    let length = lengthOverride ?? UInt64(headerBytes.count)
    var file = Data((0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
    file += headerBytes
    file += data
    try file.write(to: url)
}

/// Writes `tensors` packed in order with correct offsets.
private func writeTensors(_ url: URL, _ tensors: [RawTensor]) throws {
    var header: [String: Any] = ["__metadata__": ["format": "pt"]]
    var data = Data()
    for tensor in tensors {
        header[tensor.name] = ["dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [data.count, data.count + tensor.bytes.count]]
        data += tensor.bytes
    }
    try writeFile(url, header: header, data: data)
}

/// A fresh directory under the system temporary directory.
private func makeTempDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Copies a fixture's config (optionally edited) and rewrites its tensors through `edit` into a temp folder.
private func editedCheckpoint(_ name: String, in dir: URL, config editConfig: (inout [String: Any]) -> Void = { _ in },
                              tensors editTensors: (inout [RawTensor]) -> Void = { _ in }) throws -> URL {
    let source = fixture(name)
    let folder = dir.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
    editConfig(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
    var tensors = try readRaw(source.appendingPathComponent("model.safetensors"))
    editTensors(&tensors)
    try writeTensors(folder.appendingPathComponent("model.safetensors"), tensors)
    return folder
}

/// Runs `body` and returns the `CheckpointError` it throws (recording an issue when it throws something else or nothing).
private func checkpointError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> CheckpointError? {
    do {
        try body()
        Issue.record("expected a CheckpointError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        return error
    } catch {
        Issue.record("expected a CheckpointError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Expects the message to name the file (by last path component) and every string of `names`.
private func expectMessage(_ error: CheckpointError?, file: URL, names: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error else { return }
    #expect(error.description.contains(file.lastPathComponent), "\(error)", sourceLocation: sourceLocation)
    #expect(error.file == file.path, sourceLocation: sourceLocation)
    for name in names { #expect(error.description.contains(name), "\(error) should name \(name)", sourceLocation: sourceLocation) }
}

/// Half → float by explicit bit manipulation (independent of `Float16`).
private func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F), mantissa = Float(bits & 0x3FF)
    switch exponent {
    case 0: return sign * mantissa * 0x1p-24
    case 31: return mantissa == 0 ? sign * .infinity : .nan
    default: return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

private func littleEndianUInt16s(_ data: Data) -> [UInt16] {
    stride(from: 0, to: data.count - 1, by: 2).map { UInt16(data[data.startIndex + $0]) | UInt16(data[data.startIndex + $0 + 1]) << 8 }
}

private func littleEndianFloats(_ data: Data) -> [Float] {
    stride(from: 0, to: data.count - 3, by: 4).map { i in
        Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[data.startIndex + i + $1]) << (8 * $1) })
    }
}

/// Deterministic generator for the mutation test.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Fixtures

@Suite("Checkpoint loading")
struct CheckpointLoadingTests {
    @Test func distilBertSequenceClassificationFloat32() throws {
        let checkpoint = try Checkpoint(directory: fixture("tiny-distilbert-sst"))
        let config = checkpoint.config
        #expect(config.modelType == .distilbert)
        #expect((config.hidden, config.heads, config.ffn, config.layers) == (48, 4, 100, 3))
        #expect((config.vocabSize, config.maxPositions, config.typeVocabSize) == (6961, 512, 0))
        #expect(config.activation == .gelu && config.layerNormEps == 1e-12 && !config.sinusoidalPositions)
        #expect(config.labels == ["NEGATIVE", "POSITIVE"])
        #expect(config.task == .sequenceClassification && config.headDim == 12)
        #expect(checkpoint.storedDType == .f32 && checkpoint.unusedTensors.isEmpty)

        let encoder = checkpoint.encoder
        #expect(encoder.wordEmbeddings.shape == [6961, 48] && encoder.positionEmbeddings.shape == [512, 48])
        #expect(encoder.tokenTypeEmbeddings == nil && encoder.layers.count == 3)
        for layer in encoder.layers {
            #expect(layer.qkv.weight.shape == [144, 48] && layer.qkv.bias.shape == [144])
            #expect(layer.ffnIn.weight.shape == [100, 48] && layer.ffnOut.weight.shape == [48, 100])
            #expect(layer.attentionNorm.gamma.shape == [48] && layer.outputNorm.beta.shape == [48])
        }
        let heads = checkpoint.heads
        #expect(heads.preClassifier?.weight.shape == [48, 48] && heads.classifier?.weight.shape == [2, 48])
        #expect(heads.classifier?.bias.values == [0.056723255664110184, 1.9476630768622272e-05])
        #expect(heads.pooler == nil && heads.qaOutputs == nil && heads.vocabProjector == nil)

        let raw = try readRaw(fixture("tiny-distilbert-sst/model.safetensors"))
        let words = try #require(raw.first { $0.name == "distilbert.embeddings.word_embeddings.weight" })
        #expect(encoder.wordEmbeddings.values == littleEndianFloats(words.bytes))
    }

    @Test func float16IsWidenedExactly() throws {
        let checkpoint = try Checkpoint(directory: fixture("tiny-distilbert-qa"))
        #expect(checkpoint.storedDType == .f16 && checkpoint.config.task == .questionAnswering)
        let qa = try #require(checkpoint.heads.qaOutputs)
        #expect(qa.weight.shape == [2, 48])
        // numpy: np.frombuffer(raw, '<f2').astype(np.float32)[:4]
        #expect(Array(qa.weight.values.prefix(4)) == [-0.11102294921875, -0.1668701171875, -0.01059722900390625, -0.0140533447265625])
        #expect(qa.bias.values == [-0.037353515625, -0.101318359375])

        let raw = try readRaw(fixture("tiny-distilbert-qa/model.safetensors"))
        let words = try #require(raw.first { $0.name == "distilbert.embeddings.word_embeddings.weight" })
        #expect(words.dtype == "F16")
        #expect(checkpoint.encoder.wordEmbeddings.values == littleEndianUInt16s(words.bytes).map(halfToFloat))
    }

    @Test func bfloat16IsWidenedByBitPattern() throws {
        let checkpoint = try Checkpoint(directory: fixture("tiny-distilbert-ner"))
        #expect(checkpoint.storedDType == .bf16 && checkpoint.config.task == .tokenClassification)
        #expect(checkpoint.config.labels == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
        let classifier = try #require(checkpoint.heads.classifier)
        #expect(classifier.weight.shape == [9, 48] && checkpoint.heads.preClassifier == nil)
        #expect(Array(classifier.weight.values.prefix(4)) == [0.05078125, -0.0126953125, -0.036865234375, -0.0732421875])

        let raw = try readRaw(fixture("tiny-distilbert-ner/model.safetensors"))
        for (name, tensor) in [("distilbert.embeddings.word_embeddings.weight", checkpoint.encoder.wordEmbeddings),
                               ("classifier.bias", classifier.bias)] {
            let bits = littleEndianUInt16s(try #require(raw.first { $0.name == name }).bytes)
            #expect(tensor.values.map(\.bitPattern) == bits.map { UInt32($0) << 16 })
        }
    }

    @Test func maskedLMTiesMissingProjectorToWordEmbeddings() throws {
        let checkpoint = try Checkpoint(directory: fixture("tiny-distilbert-mlm"))
        #expect(checkpoint.config.task == .maskedLM && checkpoint.config.labels == ["LABEL_0", "LABEL_1"])
        let heads = checkpoint.heads
        let projector = try #require(heads.vocabProjector)
        #expect(heads.vocabProjectorIsTied)
        #expect(projector.weight == checkpoint.encoder.wordEmbeddings && projector.weight.shape == [6961, 48])
        #expect(projector.bias.shape == [6961])
        #expect(Array(projector.bias.values.prefix(2)) == [0.035820372402668, -0.049647632986307144])
        #expect(heads.vocabTransform?.weight.shape == [48, 48] && heads.vocabLayerNorm?.gamma.shape == [48])
    }

    @Test func bertPairClassifier() throws {
        let checkpoint = try Checkpoint(directory: fixture("tiny-bert-pairs"))
        let config = checkpoint.config
        #expect(config.modelType == .bert && config.typeVocabSize == 2 && config.layerNormEps == 1e-12)
        #expect(config.labels == ["contradiction", "neutral", "entailment"])
        #expect(config.architectures == ["BertForSequenceClassification"])
        #expect(checkpoint.encoder.tokenTypeEmbeddings?.shape == [2, 48])
        #expect(checkpoint.heads.pooler?.weight.shape == [48, 48] && checkpoint.heads.classifier?.weight.shape == [3, 48])
        #expect(checkpoint.heads.classifier?.bias.values == [-0.02130887284874916, 0.023377303034067154, -0.011783753521740437])
    }

    @Test(arguments: [("tiny-distilbert-sst", "distilbert.transformer.layer.", ["q_lin", "k_lin", "v_lin"]),
                      ("tiny-bert-pairs", "bert.encoder.layer.", ["self.query", "self.key", "self.value"])])
    func fusedQKVIsConcatenationOfRows(folder: String, prefix: String, parts: [String]) throws {
        let checkpoint = try Checkpoint(directory: fixture(folder))
        let raw = try readRaw(fixture(folder).appendingPathComponent("model.safetensors"))
        func values(_ name: String) throws -> [Float] { littleEndianFloats(try #require(raw.first { $0.name == name }).bytes) }
        for (index, layer) in checkpoint.encoder.layers.enumerated() {
            let names = parts.map { "\(prefix)\(index).attention.\($0)" }
            #expect(layer.qkv.weight.values == (try names.flatMap { try values($0 + ".weight") }))
            #expect(layer.qkv.bias.values == (try names.flatMap { try values($0 + ".bias") }))
        }
    }

    @Test func legacyNamesBuffersAndMissingPrefix() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try editedCheckpoint("tiny-distilbert-sst", in: dir, tensors: { tensors in
            for i in tensors.indices {
                var name = tensors[i].name
                if name.hasPrefix("distilbert.") { name.removeFirst("distilbert.".count) }
                if name.contains("norm") || name.contains("LayerNorm") {
                    name = name.replacingOccurrences(of: ".weight", with: ".gamma").replacingOccurrences(of: ".bias", with: ".beta")
                }
                tensors[i].name = name
            }
            let ids = (0..<512).flatMap { i in (0..<8).map { UInt8(truncatingIfNeeded: Int64(i) >> (8 * $0)) } }
            tensors.append(RawTensor(name: "embeddings.position_ids", dtype: "I64", shape: [1, 512], bytes: Data(ids)))
        })
        let legacy = try Checkpoint(directory: folder)
        let original = try Checkpoint(directory: fixture("tiny-distilbert-sst"))
        #expect(legacy.encoder == original.encoder && legacy.heads == original.heads)
        #expect(legacy.unusedTensors == ["embeddings.position_ids"])
        let file = try SafeTensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        #expect(try file.int64s("embeddings.position_ids") == (0..<512).map(Int64.init))
        #expect(try file.shape("embeddings.position_ids") == [1, 512])
    }

    @Test func fetchedMiniLM() throws {
        try Fixtures.requireRealData()
        let checkpoint = try Checkpoint(directory: repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2"))
        #expect(checkpoint.config.task == .encoder && checkpoint.config.hidden == 384 && checkpoint.encoder.layers.count == 6)
        #expect(checkpoint.heads.pooler?.weight.shape == [384, 384])
        #expect(checkpoint.unusedTensors == ["embeddings.position_ids"])
    }
}

// MARK: - Broken safetensors files

@Suite("SafeTensors validation")
struct SafeTensorsValidationTests {
    /// Header of a valid two-tensor file: `a` F32 [2] at 0..<8, `b` F32 [2] at 8..<16.
    private func header(a: [String: Any]? = nil, b: [String: Any]? = nil) -> [String: Any] {
        ["a": a ?? ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
         "b": b ?? ["dtype": "F32", "shape": [2], "data_offsets": [8, 16]]]
    }
    private let data = Data((0..<16).map { UInt8($0 * 7) })

    private func open(_ write: (URL) throws -> Void) throws -> (URL, CheckpointError?) {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("broken.safetensors")
        try write(url)
        return (url, checkpointError { _ = try SafeTensorsFile(url: url) })
    }

    @Test func validSmallFile() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ok.safetensors")
        try writeFile(url, header: header().merging(["__metadata__": ["format": "pt"]]) { $1 }, data: data)
        let file = try SafeTensorsFile(url: url)
        #expect(file.names == ["a", "b"] && file.metadata == ["format": "pt"])
        #expect(try file.floats("b") == littleEndianFloats(data.subdata(in: 8..<16)))
        let view = try file.view("a")
        #expect(view.dtype == .f32 && view.shape == [2] && view.byteCount == 8)
        #expect(view.withUnsafeBytes { Array($0) } == Array(data.prefix(8)))
        let missing = checkpointError { _ = try file.floats("c") }
        #expect(missing == .tensorNotFound(file: url.path, tensor: "c"))
    }

    @Test func shorterThanLengthPrefix() throws {
        for size in [0, 5] {
            let (url, error) = try open { try Data(repeating: 1, count: size).write(to: $0) }
            #expect(error == .truncatedFile(file: url.path, size: size))
            expectMessage(error, file: url, names: [])
        }
    }

    @Test func headerLengthLargerThanFile() throws {
        for length: UInt64 in [10_000, 200_000_000, UInt64(Int.max), .max] {
            let (url, error) = try open { try writeFile($0, header: header(), data: data, lengthOverride: length) }
            guard case .headerTooLarge(_, length, _)? = error else { Issue.record("\(String(describing: error))"); continue }
            expectMessage(error, file: url, names: ["\(length)"])
        }
    }

    @Test func corruptHeaderJSON() throws {
        for bytes in ["{\"a\": {\"dtype\": ", "[1, 2, 3]", "", "\u{FF}"] {
            let (url, error) = try open { try writeFile($0, headerBytes: Data(bytes.utf8), data: data) }
            guard case .invalidHeader? = error else { Issue.record("\(bytes): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: [])
        }
    }

    @Test func truncatedFixtureNamesTheTensorPastTheEnd() throws {
        let source = try Data(contentsOf: fixture("tiny-distilbert-sst/model.safetensors"))
        let (url, error) = try open { try source.prefix(source.count / 2).write(to: $0) }
        guard case .offsetsOutOfBounds(_, let tensor, _, let end, let dataSize)? = error else {
            Issue.record("\(String(describing: error))"); return
        }
        #expect(end > dataSize)
        expectMessage(error, file: url, names: [tensor])
        let (cutURL, cutError) = try open { try source.prefix(100).write(to: $0) }
        #expect({ if case .headerTooLarge? = cutError { true } else { false } }())
        expectMessage(cutError, file: cutURL, names: [])
    }

    @Test func offsetsOutOfBounds() throws {
        for offsets in [[8, 0], [8, 24], [-8, 0], [16, 16 + 8]] {
            let (url, error) = try open { try writeFile($0, header: header(b: ["dtype": "F32", "shape": [2], "data_offsets": offsets]), data: data) }
            guard case .offsetsOutOfBounds(_, "b", _, _, _)? = error else { Issue.record("\(offsets): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: ["'b'"])
        }
    }

    @Test func shapeOrDTypeDisagreesWithByteCount() throws {
        for entry: [String: Any] in [["dtype": "F32", "shape": [3], "data_offsets": [8, 16]],
                                     ["dtype": "F16", "shape": [2], "data_offsets": [8, 16]],
                                     ["dtype": "I64", "shape": [2], "data_offsets": [8, 16]],
                                     ["dtype": "F32", "shape": [], "data_offsets": [8, 16]]] {
            let (url, error) = try open { try writeFile($0, header: header(b: entry), data: data) }
            guard case .byteSizeMismatch(_, "b", _, _, _, 8)? = error else { Issue.record("\(entry): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: ["'b'"])
        }
    }

    @Test func unknownDType() throws {
        for dtype in ["F8_E4M3", "F64", "complex64"] {
            let (url, error) = try open { try writeFile($0, header: header(b: ["dtype": dtype, "shape": [2], "data_offsets": [8, 16]]), data: data) }
            #expect(error == .unsupportedDType(file: url.path, tensor: "b", dtype: dtype))
            expectMessage(error, file: url, names: ["'b'", dtype])
        }
    }

    @Test func malformedEntries() throws {
        for entry: Any in [["shape": [2], "data_offsets": [8, 16]], ["dtype": "F32", "data_offsets": [8, 16]],
                           ["dtype": "F32", "shape": [-2], "data_offsets": [8, 16]],
                           ["dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [8, 16]],
                           ["dtype": "F32", "shape": [2], "data_offsets": [8, 16, 24]],
                           ["dtype": "F32", "shape": [2.5], "data_offsets": [8, 16]], "not an object"] {
            let (url, error) = try open { try writeFile($0, header: ["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]], "b": entry], data: data) }
            guard case .invalidTensorEntry(_, "b", _)? = error else { Issue.record("\(entry): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: ["'b'"])
        }
    }

    @Test func overlappingRanges() throws {
        let (url, error) = try open {
            try writeFile($0, header: header(b: ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]]), data: data)
        }
        #expect(error == .overlappingTensors(file: url.path, first: "a", second: "b"))
        expectMessage(error, file: url, names: ["'a'", "'b'"])
    }

    @Test func missingFileAndDirectory() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("absent.safetensors")
        #expect(checkpointError { _ = try SafeTensorsFile(url: missing) } == .fileNotFound(file: missing.path))
        guard case .unreadable? = checkpointError({ _ = try SafeTensorsFile(url: dir) }) else { Issue.record("directory"); return }
    }

    @Test func integerTensorsAreNotFloats() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ints.safetensors")
        try writeFile(url, header: header(a: ["dtype": "I32", "shape": [2], "data_offsets": [0, 8]]), data: data)
        let file = try SafeTensorsFile(url: url)
        let error = checkpointError { _ = try file.floats("a") }
        #expect(error == .wrongDType(file: url.path, tensor: "a", dtype: "I32", expected: "F32, F16 or BF16"))
        #expect(checkpointError { _ = try file.int64s("b") } == .wrongDType(file: url.path, tensor: "b", dtype: "F32", expected: "I64 or I32"))
    }

    /// Every prefix and thousands of random byte mutations of a real file: each must load or throw, never crash.
    @Test func truncationsAndMutationsNeverCrash() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try Data(contentsOf: fixture("tiny-distilbert-qa/model.safetensors"))
        var small = Data()
        let tensors = try readRaw(fixture("tiny-distilbert-qa/model.safetensors")).filter { $0.name.hasPrefix("qa_outputs") || $0.name.contains("layer.0.attention.q_lin") }
        let url = dir.appendingPathComponent("mutated.safetensors")
        try writeTensors(url, tensors)
        small = try Data(contentsOf: url)
        #expect(source.count > small.count)

        func attempt(_ bytes: Data) throws {
            try bytes.write(to: url)
            do {
                let file = try SafeTensorsFile(url: url)
                for name in file.names {
                    let entry = try file.entry(name)
                    if entry.dtype.isFloatingPoint { #expect(try file.floats(name).count == entry.elementCount) }
                }
            } catch is CheckpointError {
            }
        }
        for length in 0..<small.count where length % 7 == 0 || length < 64 { try attempt(small.prefix(length)) }
        var random = SplitMix64(state: 42)
        let headerEnd = 8 + small.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        for _ in 0..<1500 {
            var bytes = small
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<min(headerEnd, bytes.count), using: &random)
                bytes[index] = UInt8.random(in: 0...255, using: &random)
            }
            try attempt(bytes)
        }
    }
}

// MARK: - Broken checkpoints and configs

@Suite("Checkpoint validation")
struct CheckpointValidationTests {
    @Test func missingTensorIsNamed() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "distilbert.transformer.layer.2.ffn.lin2.bias"
        let folder = try editedCheckpoint("tiny-distilbert-sst", in: dir, tensors: { $0.removeAll { $0.name == name } })
        let file = folder.appendingPathComponent("model.safetensors")
        let error = checkpointError { _ = try Checkpoint(directory: folder) }
        #expect(error == .tensorNotFound(file: file.path, tensor: name))
        expectMessage(error, file: file, names: [name])

        let head = try editedCheckpoint("tiny-bert-pairs", in: dir, tensors: { $0.removeAll { $0.name.hasPrefix("bert.pooler") } })
        let headError = checkpointError { _ = try Checkpoint(directory: head) }
        #expect(headError == .tensorNotFound(file: head.appendingPathComponent("model.safetensors").path, tensor: "bert.pooler.dense.weight"))
    }

    @Test func wrongShapeIsNamed() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "distilbert.transformer.layer.1.attention.q_lin.weight"
        let folder = try editedCheckpoint("tiny-distilbert-qa", in: dir, tensors: { tensors in
            for i in tensors.indices where tensors[i].name == name {
                tensors[i].shape = [48, 47]
                tensors[i].bytes = tensors[i].bytes.prefix(48 * 47 * 2)
            }
        })
        let file = folder.appendingPathComponent("model.safetensors")
        let error = checkpointError { _ = try Checkpoint(directory: folder) }
        #expect(error == .shapeMismatch(file: file.path, tensor: name, expected: [48, 48], actual: [48, 47]))
        expectMessage(error, file: file, names: [name, "[48, 47]"])
    }

    @Test func classifierMustMatchLabelCount() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try editedCheckpoint("tiny-distilbert-sst", in: dir, config: { $0["id2label"] = ["0": "a", "1": "b", "2": "c"] })
        let error = checkpointError { _ = try Checkpoint(directory: folder) }
        guard case .shapeMismatch(_, "classifier.weight", [3, 48], [2, 48])? = error else { Issue.record("\(String(describing: error))"); return }
    }

    @Test func duplicateAfterPrefixRemoval() throws {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try editedCheckpoint("tiny-distilbert-sst", in: dir, tensors: { tensors in
            if var copy = tensors.first(where: { $0.name == "distilbert.embeddings.LayerNorm.bias" }) {
                copy.name = "embeddings.LayerNorm.bias"
                tensors.append(copy)
            }
        })
        guard case .duplicateTensor? = checkpointError({ _ = try Checkpoint(directory: folder) }) else { Issue.record("no duplicate"); return }
    }

    private func configError(_ text: String) throws -> (URL, CheckpointError?) {
        let dir = try makeTempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(text.utf8).write(to: url)
        return (url, checkpointError { _ = try ModelConfig(contentsOf: url) })
    }

    private func editedConfig(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixture(name).appendingPathComponent("config.json"))) as? [String: Any])
        edit(&config)
        return String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
    }

    @Test(arguments: [("tiny-distilbert-sst", "n_heads"), ("tiny-distilbert-sst", "dim"), ("tiny-bert-pairs", "hidden_size"),
                      ("tiny-bert-pairs", "num_hidden_layers"), ("tiny-bert-pairs", "vocab_size"), ("tiny-bert-pairs", "model_type")])
    func missingRequiredConfigKey(folder: String, key: String) throws {
        let (url, error) = try configError(try editedConfig(folder) { $0[key] = nil })
        #expect(error == .missingConfigKey(file: url.path, key: key))
        expectMessage(error, file: url, names: ["'\(key)'"])
    }

    @Test func configNotJSON() throws {
        for text in ["model_type = bert", "[1, 2]", ""] {
            let (url, error) = try configError(text)
            guard case .configNotJSON? = error else { Issue.record("\(text): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: [])
        }
        let missing = URL(fileURLWithPath: "/nonexistent/config.json")
        #expect(checkpointError { _ = try ModelConfig(contentsOf: missing) } == .fileNotFound(file: missing.path))
    }

    @Test func unknownModelType() throws {
        let (url, error) = try configError(try editedConfig("tiny-bert-pairs") { $0["model_type"] = "roberta" })
        #expect(error == .unsupportedModelType(file: url.path, modelType: "roberta"))
        expectMessage(error, file: url, names: ["roberta", "model_type"])
    }

    @Test func invalidValuesAreNamed() throws {
        let cases: [(String, String, (inout [String: Any]) -> Void)] = [
            ("tiny-bert-pairs", "hidden_act", { $0["hidden_act"] = "swish" }),
            ("tiny-bert-pairs", "num_attention_heads", { $0["num_attention_heads"] = 5 }),
            ("tiny-distilbert-sst", "dim", { $0["dim"] = "48" }),
            ("tiny-distilbert-sst", "id2label", { $0["id2label"] = ["zero": "a"] }),
            ("tiny-bert-pairs", "position_embedding_type", { $0["position_embedding_type"] = "relative_key" }),
        ]
        for (folder, key, edit) in cases {
            let (url, error) = try configError(try editedConfig(folder, edit))
            guard case .invalidConfigValue(_, key, _)? = error else { Issue.record("\(key): \(String(describing: error))"); continue }
            expectMessage(error, file: url, names: ["'\(key)'"])
        }
    }

    @Test func defaultsAndActivations() throws {
        let minimal = #"{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16, "num_hidden_layers": 1, "vocab_size": 10, "hidden_act": "gelu_new", "num_labels": 3, "layer_norm_eps": 1e-5, "pad_token_id": null, "unknown": {"x": 1}}"#
        let config = try ModelConfig(jsonData: Data(minimal.utf8), file: "config.json")
        #expect(config.activation == .geluTanh && config.layerNormEps == 1e-5 && config.padTokenId == 0)
        #expect(config.labels == ["LABEL_0", "LABEL_1", "LABEL_2"] && config.maxPositions == 512 && config.typeVocabSize == 2)
        #expect(config.task == .encoder && config.architectures.isEmpty)
        let distil = #"{"model_type": "distilbert", "dim": 8, "n_heads": 2, "hidden_dim": 16, "n_layers": 1, "vocab_size": 10, "activation": "relu", "sinusoidal_pos_embds": true}"#
        let d = try ModelConfig(jsonData: Data(distil.utf8), file: "config.json")
        #expect(d.activation == .relu && d.sinusoidalPositions && d.typeVocabSize == 0 && d.labels.count == 2)
    }
}
