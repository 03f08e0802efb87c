import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bad models, bad input, bad flags: a clear `error:` line, a documented exit status, no crash,
/// and `--output` left as it was.
@Suite("CLI: errors and exit statuses")
struct CLIErrorTests {
    static let sst = fixturePath("tiny-distilbert-sst")

    @Test("a missing model folder: status 3 and a message naming it")
    func missingModel() throws {
        let r = try CLI.run(["embed", "--model", "/nonexistent/model-dir", "--device", "cpu"], stdin: Data("hi\n".utf8))
        #expect(r.status == 3)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("/nonexistent/model-dir") && r.stderr.contains("not found"),
                "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("the default model folder comes from DISTILCL_MODEL")
    func modelFromEnvironment() throws {
        let r = try CLI.run(["tokenize"], stdin: Data("hi\n".utf8), environment: ["DISTILCL_MODEL": "/nonexistent/env-model"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("/nonexistent/env-model"), "\(r.stderr)")
    }

    @Test("a broken config.json or missing weights: status 3, the file named", arguments: ["config", "weights"])
    func brokenModel(what: String) throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.sst), to: model)
        if what == "config" {
            try Data("{\"model_type\": \"distilbert\", \"dim\": ".utf8).write(to: model.appendingPathComponent("config.json"))
        } else {
            try FileManager.default.removeItem(at: model.appendingPathComponent("model.safetensors"))
        }
        let r = try CLI.run(["classify", "--model", model.path, "--device", "cpu"], stdin: Data("hi\n".utf8))
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("error: "))
        #expect(r.stderr.contains(what == "config" ? "config.json" : "model.safetensors"), "\(r.stderr)")
    }

    @Test("a checkpoint without the head the command needs: status 3")
    func wrongHead() throws {
        let r = try CLI.run(["classify", "--model", fixturePath("tiny-distilbert-qa"), "--device", "cpu"],
                            stdin: Data("a text\n".utf8))
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("ForSequenceClassification") && r.stderr.contains("--labels"), "\(r.stderr)")
    }

    @Test("invalid UTF-8: status 4, the message names the line")
    func invalidUTF8() throws {
        var input = Data("fine\nalso fine\n".utf8)
        input.append(contentsOf: [0x62, 0x61, 0x64, 0x20, 0xC3, 0x28, 0x0A])   // "bad " + broken 2-byte sequence
        input.append(Data("last\n".utf8))
        let r = try CLI.run(["embed", "--model", Self.sst, "--device", "cpu"], stdin: input)
        #expect(r.status == 4)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("line 3") && r.stderr.contains("UTF-8"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("an invalid JSON line, a non-object and a missing field: status 4 with the line number",
          arguments: ["{\"text\": \"unterminated}", "[1, 2]", "{\"txt\": \"typo\"}", "{\"text\": 5}", ""])
    func invalidJSONLine(line: String) throws {
        let input = Data("{\"text\": \"ok\"}\n\(line)\n{\"text\": \"ok too\"}\n".utf8)
        let r = try CLI.run(["classify", "--model", Self.sst, "--device", "cpu", "--jsonl"], stdin: input)
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("line 2"), "\(r.stderr)")
    }

    @Test("--skip-invalid: bad lines are left out and counted on stderr")
    func skipInvalid() throws {
        var input = Data("{\"text\": \"first\"}\nnot json\n".utf8)
        input.append(contentsOf: [0x7B, 0xFF, 0x7D, 0x0A])
        input.append(Data("{\"text\": \"last\"}\n".utf8))
        let r = try CLI.run(["tokenize", "--model", Self.sst, "--jsonl", "--skip-invalid"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.jsonLines()
        #expect(lines.map { ($0["tokens"] as? [String])?[1] } == ["first", "last"])
        #expect(r.stderr.contains("skipped 2 invalid input lines") && r.stderr.contains("line 2")
                && r.stderr.contains("line 3"), "\(r.stderr)")
    }

    @Test("an unknown device is a usage error (64); a missing OpenCL device index is status 5")
    func badDevice() throws {
        let r = try CLI.run(["embed", "--model", Self.sst, "--device", "banana"], stdin: Data("hi\n".utf8))
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("unknown device 'banana'"), "\(r.stderr)")

        let env = try CLI.run(["embed", "--model", Self.sst], stdin: Data("hi\n".utf8),
                              environment: ["DISTILCL_DEVICE": "quantum"])
        #expect(env.status == 64, "\(env.stderr)")
        #expect(env.stderr.contains("DISTILCL_DEVICE"), "\(env.stderr)")

        let missing = try CLI.run(["embed", "--model", Self.sst, "--device", "opencl:99"], stdin: Data("hi\n".utf8))
        #expect(missing.status == 5, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("error: "), "\(missing.stderr)")
    }

    @Test("bad flag values are usage errors (64)",
          arguments: [["--batch-size", "0"], ["--max-length", "1"], ["--max-length", "100000"], ["--bogus"]])
    func badFlags(flags: [String]) throws {
        let r = try CLI.run(["embed", "--model", Self.sst, "--device", "cpu"] + flags, stdin: Data("hi\n".utf8))
        #expect(r.status == 64, "\(flags): \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("a missing --input file: status 4")
    func missingInputFile() throws {
        let r = try CLI.run(["tokenize", "--model", Self.sst, "--input", "/nonexistent/input.txt"])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains("/nonexistent/input.txt"))
    }

    @Test("--output: a failing run leaves the existing file untouched and no temporary file")
    func outputUntouchedOnFailure() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("result.jsonl")
        try Data("previous content\n".utf8).write(to: out)
        var input = Data("good line\n".utf8)
        input.append(contentsOf: [0xFF, 0xFE, 0x0A])
        let r = try CLI.run(["embed", "--model", Self.sst, "--device", "cpu", "--output", out.path], stdin: input)
        #expect(r.status == 4, "\(r.stderr)")
        #expect(try String(contentsOf: out, encoding: .utf8) == "previous content\n")
        #expect(folder.contents() == ["result.jsonl"])

        let broken = try CLI.run(["classify", "--model", "/nonexistent", "--output", out.path], stdin: Data("x\n".utf8))
        #expect(broken.status == 3)
        #expect(try String(contentsOf: out, encoding: .utf8) == "previous content\n")
        #expect(folder.contents() == ["result.jsonl"])
    }

    @Test("--output: a successful run replaces the file with every line")
    func outputWritten() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("result.jsonl")
        try Data("previous content\n".utf8).write(to: out)
        let input = folder.file("in.txt")
        try Data("one\ntwo\nthree\n".utf8).write(to: input)
        let r = try CLI.run(["tokenize", "--model", Self.sst, "--input", input.path, "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 && lines[0].hasPrefix("{\"ids\":[101,"))
        #expect(Set(folder.contents()) == ["result.jsonl", "in.txt"])
    }

    @Test("SIGINT while running: status 130, the existing output untouched, no temporary file")
    func interrupted() throws {
        guard let binary = CLI.binary else { throw CLITestError.noBinary }
        let folder = try TemporaryFolder()
        let out = folder.file("result.jsonl")
        try Data("previous content\n".utf8).write(to: out)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["tokenize", "--model", Self.sst, "--output", out.path]
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data("some input that is never finished\n".utf8))
        // The temporary file appears once the output is opened; the process then waits on stdin.
        let deadline = Date().addingTimeInterval(30)
        while folder.contents().count < 2 && Date() < deadline { usleep(20_000) }
        #expect(folder.contents().count == 2, "no temporary output file appeared: \(folder.contents())")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        try? stdin.fileHandleForWriting.close()
        #expect(process.terminationStatus == 130)
        #expect(try String(contentsOf: out, encoding: .utf8) == "previous content\n")
        #expect(folder.contents() == ["result.jsonl"])
    }
}
