import Foundation

/// The GEMM variants `distilcl tune` measured fastest, per device and shape, in one JSON file:
///
///     {"version": 1, "devices": {"<platform>|<device>|<driver>|<gemm.cl hash>":
///         {"M1024_N2304_K768": {"kernel": "tiled", "rows": 0, "tile": [64, 64, 16, 4, 4],
///                               "gflops": 812.5, "default_gflops": 530.1}, …}}}
///
/// The key holds the kernel source's hash, so an edited `gemm.cl` makes old entries stale:
/// they are ignored, never used. A file that cannot be read or parsed, or an entry that is
/// malformed, is ignored with a warning. File: `$DISTILCL_TUNING_FILE`, else `tuning.json` in
/// the program cache's folder (`$DISTILCL_CACHE_DIR`, `$XDG_CACHE_HOME/distilcl`,
/// `~/.cache/distilcl`).
public struct TuningCache: Sendable {
    public let url: URL

    /// One measured winner.
    public struct Entry: Codable, Sendable, Equatable {
        public var kernel: GEMMVariant.Kernel
        public var rows: Int
        public var tile: [Int]
        public var gflops: Double
        public var default_gflops: Double

        public var variant: GEMMVariant { GEMMVariant(kernel: kernel, rows: rows, tile: tile) }

        public init(_ variant: GEMMVariant, gflops: Double, defaultGFLOPS: Double) {
            (kernel, rows, tile) = (variant.kernel, variant.rows, variant.tile)
            self.gflops = gflops
            default_gflops = defaultGFLOPS
        }
    }

    private struct File: Codable {
        var version = 1
        var devices: [String: [String: Entry]] = [:]
    }

    public init(url: URL) { self.url = url }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let path = environment["DISTILCL_TUNING_FILE"], !path.isEmpty {
            url = URL(fileURLWithPath: path)
        } else {
            var env = environment
            env["DISTILCL_NO_CACHE"] = nil   // the tuning file lives there even when binaries are not cached
            let folder = ProgramCache(environment: env).directory
                ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/distilcl")
            url = folder.appendingPathComponent("tuning.json")
        }
    }

    /// The key of `device` with the current `gemm.cl`.
    public static func key(for device: CLDeviceInfo) -> String {
        let hash = String(fnv1a64(EmbeddedKernels.sources["gemm.cl"] ?? ""), radix: 16)
        return [device.platformName, device.name, device.driverVersion, hash].joined(separator: "|")
    }

    /// The variants stored for `device`, and a warning for each thing ignored.
    public func variants(for device: CLDeviceInfo) -> (variants: [GEMMShape: GEMMVariant], warnings: [String]) {
        guard FileManager.default.fileExists(atPath: url.path) else { return ([:], []) }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        } catch {
            return ([:], ["\(url.path) is not a tuning file (ignored; `distilcl tune` rewrites it): \(error)"])
        }
        guard file.version == 1 else { return ([:], ["\(url.path): tuning file version \(file.version) ignored"]) }
        guard let entries = file.devices[Self.key(for: device)] else { return ([:], []) }
        var result: [GEMMShape: GEMMVariant] = [:], warnings: [String] = []
        for (key, entry) in entries.sorted(by: { $0.key < $1.key }) {
            guard let shape = GEMMShape(key: key) else { warnings.append("\(url.path): bad shape '\(key)' ignored"); continue }
            let v = entry.variant
            let valid = v.kernel == .panel ? (1...32).contains(v.rows) : v.tile.count == 5 && v.tile.allSatisfy { $0 > 0 }
            guard valid else { warnings.append("\(url.path): bad variant for \(key) ignored"); continue }
            result[shape] = v
        }
        return (result, warnings)
    }

    /// Merges `entries` for `device` into the file (written whole under a temporary name, then renamed).
    public func store(_ entries: [GEMMShape: Entry], for device: CLDeviceInfo) throws {
        var file = (try? JSONDecoder().decode(File.self, from: Data(contentsOf: url))) ?? File()
        if file.version != 1 { file = File() }
        let key = Self.key(for: device)
        var stored = file.devices[key] ?? [:]
        for (shape, entry) in entries { stored[shape.description] = entry }
        file.devices[key] = stored
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(file).write(to: url, options: .atomic)
    }
}
