import Foundation

/// The GEMM variants `distilcl tune` measured fastest, per device and shape, in one JSON file:
///
///     {"version": 1, "devices": {"<platform>|<device>|<driver>|<gemm.cl hash>":
///         {"M1024_N2304_K768": {"kernel": "tiled", "rows": 0, "tile": [64, 64, 16, 4, 4],
///                               "vector_width": 4, "double_buffered": true, "warp_layout": false,
///                               "split_k": 1, "gflops": 812.5, "default_gflops": 530.1}, …}},
///      "attention": {"<platform>|<device>|<driver>|<attention.cl hash>":
///         {"key_block": 32, "vector_width": 4, "head_dim": 64, "gflops": 95.1, "default_gflops": 80.2}}}
///
/// A key holds its kernel source's hash, so an edited `.cl` file makes old entries stale:
/// they are ignored, never used. (The tiled options are optional: an entry without them is
/// the plain tile.) A file that cannot be read or parsed, or an entry that is
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
        public var vector_width: Int?
        public var double_buffered: Bool?
        public var warp_layout: Bool?
        public var split_k: Int?
        public var gflops: Double
        public var default_gflops: Double

        public var variant: GEMMVariant {
            GEMMVariant(kernel: kernel, rows: rows, tile: tile, vectorWidth: vector_width ?? 4,
                        doubleBuffered: double_buffered ?? false, warpLayout: warp_layout ?? false, splitK: split_k ?? 1)
        }

        public init(_ variant: GEMMVariant, gflops: Double, defaultGFLOPS: Double) {
            (kernel, rows, tile) = (variant.kernel, variant.rows, variant.tile)
            if variant.kernel == .tiled {
                (vector_width, double_buffered, warp_layout, split_k) =
                    (variant.vectorWidth, variant.doubleBuffered, variant.warpLayout, variant.splitK)
            }
            self.gflops = gflops
            default_gflops = defaultGFLOPS
        }
    }

    /// The attention kernels' key block (`ATT_KB`) and the inference kernel's vector width
    /// measured fastest on a device.
    public struct AttentionEntry: Codable, Sendable, Equatable {
        public var key_block: Int
        /// 1, 4 or 16; absent: the heuristic's.
        public var vector_width: Int?
        /// The head size it was measured at.
        public var head_dim: Int
        public var gflops: Double
        public var default_gflops: Double

        public init(keyBlock: Int, vectorWidth: Int? = nil, headDim: Int, gflops: Double, defaultGFLOPS: Double) {
            (key_block, vector_width, head_dim, self.gflops, default_gflops) =
                (keyBlock, vectorWidth, headDim, gflops, defaultGFLOPS)
        }
    }

    private struct File: Codable {
        var version = 1
        var devices: [String: [String: Entry]] = [:]
        var attention: [String: AttentionEntry]?
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

    /// The key of `device` with the current `gemm.cl` (or another kernel file).
    public static func key(for device: CLDeviceInfo, file: String = "gemm.cl") -> String {
        let hash = String(fnv1a64(EmbeddedKernels.sources[file] ?? ""), radix: 16)
        return [device.platformName, device.name, device.driverVersion, hash].joined(separator: "|")
    }

    /// Whether `key` is `device`'s (platform, name, driver) whatever the kernel file's hash.
    private static func sameDevice(_ key: String, _ device: CLDeviceInfo) -> Bool {
        key.hasPrefix([device.platformName, device.name, device.driverVersion, ""].joined(separator: "|"))
    }

    /// The file's contents, nil when there is none; a warning when it cannot be used.
    private func read() -> (file: File?, warning: String?) {
        guard FileManager.default.fileExists(atPath: url.path) else { return (nil, nil) }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        } catch {
            return (nil, "\(url.path) is not a tuning file (ignored; `distilcl tune` rewrites it): \(error)")
        }
        guard file.version == 1 else { return (nil, "\(url.path): tuning file version \(file.version) ignored") }
        return (file, nil)
    }

    /// The variants stored for `device`, and a warning for each thing ignored.
    public func variants(for device: CLDeviceInfo) -> (variants: [GEMMShape: GEMMVariant], warnings: [String]) {
        let (file, warning) = read()
        guard let entries = file?.devices[Self.key(for: device)] else {
            if let file, file.devices.keys.contains(where: { Self.sameDevice($0, device) }) {
                return ([:], ["\(url.path): this device's GEMMs were tuned for another gemm.cl (ignored; `distilcl tune` tunes them again)"])
            }
            return ([:], warning.map { [$0] } ?? [])
        }
        var result: [GEMMShape: GEMMVariant] = [:], warnings: [String] = []
        for (key, entry) in entries.sorted(by: { $0.key < $1.key }) {
            guard let shape = GEMMShape(key: key) else { warnings.append("\(url.path): bad shape '\(key)' ignored"); continue }
            let v = entry.variant
            let valid = v.kernel == .panel ? (1...32).contains(v.rows)
                : v.tile.count == 5 && v.tile.allSatisfy { $0 > 0 } && [1, 2, 4].contains(v.vectorWidth) && (1...16).contains(v.splitK)
            guard valid else { warnings.append("\(url.path): bad variant for \(key) ignored"); continue }
            result[shape] = v
        }
        return (result, warnings)
    }

    /// The attention kernel stored for `device`: its key block and vector width (0: the
    /// heuristic's); nil when none, or when it is malformed (then with a warning). A bad
    /// file's warning comes from `variants(for:)`.
    public func attention(for device: CLDeviceInfo) -> (stored: (keyBlock: Int, vectorWidth: Int)?, warning: String?) {
        let table = read().file?.attention ?? [:]
        guard let entry = table[Self.key(for: device, file: "attention.cl")] else {
            guard table.keys.contains(where: { Self.sameDevice($0, device) }) else { return (nil, nil) }
            return (nil, "\(url.path): this device's attention was tuned for another attention.cl (ignored; `distilcl tune` tunes it again)")
        }
        let width = entry.vector_width ?? 0
        guard (1...256).contains(entry.key_block), [0, 1, 4, 16].contains(width) else {
            return (nil, "\(url.path): bad attention entry (key block \(entry.key_block), vector width \(width)) ignored")
        }
        return ((entry.key_block, width), nil)
    }

    /// Merges `entries` (and `attention`) for `device` into the file (written whole under a
    /// temporary name, then renamed).
    public func store(_ entries: [GEMMShape: Entry], attention: AttentionEntry? = nil, for device: CLDeviceInfo) throws {
        var file = (try? JSONDecoder().decode(File.self, from: Data(contentsOf: url))) ?? File()
        if file.version != 1 { file = File() }
        let key = Self.key(for: device)
        var stored = file.devices[key] ?? [:]
        for (shape, entry) in entries { stored[shape.description] = entry }
        file.devices[key] = stored
        if let attention {
            var table = file.attention ?? [:]
            table[Self.key(for: device, file: "attention.cl")] = attention
            file.attention = table
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(file).write(to: url, options: .atomic)
    }
}
