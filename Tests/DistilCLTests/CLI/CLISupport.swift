import DistilCL
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `distilcl` executable (the package's executable product, which `swift test`
/// builds with the tests) and captures what it prints.
enum CLI {
    /// The executable: `$DISTILCL_BINARY`, else next to the test bundle in the products folder,
    /// else `.build/debug/distilcl` under the package root.
    static let binary: URL? = {
        let fm = FileManager.default
        if let path = ProcessInfo.processInfo.environment["DISTILCL_BINARY"], fm.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        var candidates: [URL] = [Bundle.main.bundleURL.appendingPathComponent("distilcl")]
        if let exe = Bundle.main.executableURL {
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("distilcl"))
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("distilcl"))
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/distilcl"))
        return candidates.first { fm.isExecutableFile(atPath: $0.path) }
    }()

    /// The package root, walking up from this file.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent() // CLI
        .deletingLastPathComponent() // DistilCLTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()

    /// The devices the CLI tests run on: `cpu`, and `opencl` when an OpenCL device exists
    /// (PoCL on CI; `DISTILCL_REQUIRE_OPENCL=1` makes its absence a failure elsewhere).
    static let devices: [String] = {
        let devices = (try? listOpenCLDevices()) ?? []
        return devices.isEmpty ? ["cpu"] : ["cpu", "opencl"]
    }()

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var out: String { String(decoding: stdout, as: UTF8.self) }

        /// Each stdout line parsed as a JSON object.
        func jsonLines(sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
            out.split(separator: "\n", omittingEmptySubsequences: false).dropLast(out.hasSuffix("\n") ? 1 : 0).map { line in
                let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(parsed != nil, "not a JSON object: \(line.prefix(200))", sourceLocation: sourceLocation)
                return parsed ?? [:]
            }
        }
    }

    /// Runs `distilcl arguments…` with `stdin` as its input; `DISTILCL_DEVICE` and
    /// `DISTILCL_MODEL` are cleared unless `environment` sets them. `launcher` (a program and
    /// its arguments: `mpirun -np 2`) starts the binary instead of running it directly.
    static func run(_ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:],
                    in directory: URL? = nil, launcher: [String] = []) throws -> Result {
        guard let binary else { throw CLITestError.noBinary }
        let scratch = try TemporaryFolder()
        let inURL = scratch.url.appendingPathComponent("stdin")
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        try stdin.write(to: inURL)
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)

        let process = Process()
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["DISTILCL_DEVICE"] = nil
        env["DISTILCL_MODEL"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.currentDirectoryURL = directory ?? packageRoot
        let input = try FileHandle(forReadingFrom: inURL)
        let output = try FileHandle(forWritingTo: outURL)
        let errors = try FileHandle(forWritingTo: errURL)
        defer { try? input.close(); try? output.close(); try? errors.close() }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: try Data(contentsOf: outURL),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Lines of JSON as stdin bytes.
    static func jsonl(_ objects: [[String: Any]]) throws -> Data {
        var data = Data()
        for o in objects {
            data.append(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]))
            data.append(0x0A)
        }
        return data
    }
}

enum CLITestError: Error, CustomStringConvertible {
    case noBinary
    var description: String {
        "the distilcl executable was not found next to the tests or in .build/debug (run `swift build`, or set DISTILCL_BINARY)"
    }
}

/// A fresh temporary folder, removed when the value goes away.
final class TemporaryFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("distilcl-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Names in the folder.
    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] }
}

/// A fixture model folder.
func fixturePath(_ name: String) -> String { Fixtures.model(name).path }

/// Doubles out of a decoded JSON value.
func doubles(_ any: Any?) -> [Double] { (any as? [Any])?.map { ($0 as? NSNumber)?.doubleValue ?? .nan } ?? [] }

func cosineSimilarity(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return .nan }
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
    return dot / max((na * nb).squareRoot(), 1e-30)
}
