import Foundation
import Testing

@Suite("CLI: input, output and progress behaviour")
struct CLIBehaviourTests {
    static let sst = fixturePath("tiny-distilbert-sst")

    @Test("empty input: no output lines, status 0, an empty --output file")
    func emptyInput() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("out.jsonl")
        let r = try CLI.run(["classify", "--model", Self.sst, "--device", "cpu", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Data(contentsOf: out).isEmpty)
        #expect(folder.contents() == ["out.jsonl"])
    }

    @Test("--progress draws the bar on stderr (items, items/s, ETA); without it a non-terminal stderr stays quiet")
    func progress() throws {
        let input = Data("one\ntwo\nthree\n".utf8)
        let quiet = try CLI.run(["embed", "--model", Self.sst, "--device", "cpu"], stdin: input)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let shown = try CLI.run(["embed", "--model", Self.sst, "--device", "cpu", "--progress"], stdin: input)
        #expect(shown.status == 0)
        #expect(shown.stderr.contains("3/3 items") && shown.stderr.contains("items/s") && shown.stderr.contains("ETA"),
                "\(shown.stderr)")
        #expect(shown.jsonLines().count == 3)
    }

    @Test("a UTF-8 byte order mark at the start of the input is not text")
    func byteOrderMark() throws {
        let r = try CLI.run(["tokenize", "--model", Self.sst], stdin: Data([0xEF, 0xBB, 0xBF] + Array("hello\n".utf8)))
        let plain = try CLI.run(["tokenize", "--model", Self.sst], stdin: Data("hello\n".utf8))
        #expect(r.status == 0 && plain.status == 0)
        #expect(r.out == plain.out)
    }

    @Test("--input FILE and stdin give the same output; DISTILCL_DEVICE picks the device")
    func inputFileAndDeviceEnvironment() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("in.txt")
        try Data("a good film\r\nan awful film\r\n".utf8).write(to: file)
        let fromFile = try CLI.run(["classify", "--model", Self.sst, "--input", file.path, "--logits"],
                                   environment: ["DISTILCL_DEVICE": "cpu"])
        let fromStdin = try CLI.run(["classify", "--model", Self.sst, "--device", "cpu", "--logits"],
                                    stdin: try Data(contentsOf: file))
        #expect(fromFile.status == 0 && fromStdin.status == 0, "\(fromFile.stderr) \(fromStdin.stderr)")
        #expect(fromFile.out == fromStdin.out)
        #expect(fromFile.jsonLines().count == 2)
    }

    @Test("every command documents its exit statuses in --help",
          arguments: ["tokenize", "classify", "embed", "qa", "fill-mask", "ner"])
    func helpDocumentsExitStatus(command: String) throws {
        let r = try CLI.run([command, "--help"])
        #expect(r.status == 0)
        let text = r.out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for needle in ["Exit status", "3 model", "4 bad input", "5 device", "64", "--skip-invalid", "--output"] {
            #expect(text.contains(needle), "\(command) --help lacks '\(needle)'")
        }
    }
}
