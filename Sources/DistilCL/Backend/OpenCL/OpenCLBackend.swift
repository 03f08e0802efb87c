import COpenCL
import Foundation

/// The inference attention kernel built with a key block (`OpenCLBackend.attentionKernel`).
public struct AttentionKernel: @unchecked Sendable {
    public let keyBlock: Int
    public let headDim: Int
    /// 1, 4 or 16 (`kernel_attention_v<width>`).
    public let vectorWidth: Int
    let kernel: CLKernel
}

/// A GEMM variant built for a backend's device (`OpenCLBackend.gemmKernel`).
public struct GEMMKernel: @unchecked Sendable {
    public let variant: GEMMVariant
    let kernel: CLKernel
}

/// The OpenCL backend: every kernel of `Kernels/` built once at start-up for one device,
/// an in-order queue (a profiling one only inside `profile`), and the weights resident in device buffers.
///
/// Sendable: all launches (argument setting plus enqueue) and the event log happen under
/// `lock`, because `clSetKernelArg` is not thread-safe; every stored handle is immutable.
public final class OpenCLBackend: ComputeBackend, @unchecked Sendable {
    public let device: CLDeviceInfo
    public let tuning: KernelTuning
    public var name: String { "OpenCL: \(device.name) (\(device.platformName))" }
    /// How many of the programs came from the on-disk binary cache.
    public let cachedPrograms: Int

    let context: CLContext
    /// The queue commands go to: `plainQueue`, or inside `profile` a profiling one.
    var queue: CLQueue { queueLock.withLock { current } }
    private let plainQueue: CLQueue
    private var current: CLQueue
    private var profilingQueue: CLQueue?
    private let queueLock = NSLock()
    let kernels: [String: CLKernel]
    /// The GEMM variant `distilcl tune` chose for each shape bucket, built (see `TuningCache`).
    let tunedKernels: [GEMMShape: GEMMKernel]
    /// What programs are built with, for the GEMM variants built later.
    private let buildPieces: (passed: String, cache: ProgramCache)
    private let lock = NSLock()
    /// Held while a split-K GEMM enqueues its slices and their reduction, which share
    /// `splitKBuffer` (the in-order queue then runs them back to back).
    let splitKLock = NSLock()
    private var splitKBuffer: CLBuffer?
    private var eventLog: [(String, CLEvent)]? = nil

    /// The `.cl` files built at start-up.
    static let programFiles = ["gemm.cl", "attention.cl", "norm.cl", "elementwise.cl", "training.cl"]

    /// Creates the context and queue and builds every program for `device`.
    /// - Parameters:
    ///   - extraOptions: appended to the build options (tests use it to inject faults).
    ///   - cacheDirectory: where compiled binaries are cached; nil for the default (see `ProgramCache`).
    ///   - tunedGEMMs: the GEMM variant per shape bucket; nil reads `distilcl tune`'s results for
    ///     this device from the `TuningCache` (unless `DISTILCL_NO_TUNING=1`), warning on stderr
    ///     about entries it ignores. Shapes without one use the heuristic of `tuning`.
    ///   - environment: `DISTILCL_CL_OPTIONS` (build options; a `-DNAME=VALUE` naming a tunable
    ///     of `KernelTuning` changes that tunable, so the host's grids agree with the kernels, and
    ///     a value they cannot run with is refused), `DISTILCL_CACHE_DIR`, `DISTILCL_NO_CACHE`,
    ///     `DISTILCL_TUNING_FILE`, `DISTILCL_NO_TUNING`.
    public init(device: CLDeviceInfo, tuning: KernelTuning? = nil, extraOptions: String = "",
                cacheDirectory: URL? = nil, tunedGEMMs: [GEMMShape: GEMMVariant]? = nil,
                environment env: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.device = device
        let readTuningFile = tunedGEMMs == nil && env["DISTILCL_NO_TUNING"] != "1"
        var base = tuning ?? .default(for: device, environment: env)
        if tuning == nil, readTuningFile {   // the tuned attention kernel (a -DATT_KB below overrides)
            let (stored, warning) = TuningCache(environment: env).attention(for: device)
            if let warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            if let stored {
                base.attentionKeyBlock = stored.keyBlock
                base.attentionVectorWidth = stored.vectorWidth
            }
        }
        // Tunables come from one place: the configuration, overrides included.
        let (tuned, passed) = try base.applying(options: (env["DISTILCL_CL_OPTIONS"] ?? "") + " " + extraOptions)
        try tuned.validate(for: device)
        self.tuning = tuned
        context = try CLContext(device: device.device)
        plainQueue = try CLQueue(context: context, device: device.device, profiling: false)
        current = plainQueue

        let options = ["-cl-std=CL1.2", tuned.buildOptions, passed].filter { !$0.isEmpty }.joined(separator: " ")
        var cacheEnv = env
        if let cacheDirectory { cacheEnv["DISTILCL_CACHE_DIR"] = cacheDirectory.path; cacheEnv["DISTILCL_NO_CACHE"] = nil }
        let cache = ProgramCache(environment: cacheEnv)
        var table: [String: CLKernel] = [:]
        var cached = 0
        for file in Self.programFiles {
            guard let source = EmbeddedKernels.sources[file] else { throw CLError.missingKernel(file) }
            let (program, hit) = try cache.build(file: file, source: source, options: options,
                                                 context: context, device: device)
            if hit { cached += 1 }
            for kernel in try CLKernel.all(in: program) { table[kernel.name] = kernel }
        }
        kernels = table
        cachedPrograms = cached
        buildPieces = (passed, cache)

        var variants = tunedGEMMs ?? [:]
        if readTuningFile {
            let (stored, warnings) = TuningCache(environment: env).variants(for: device)
            for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            variants = stored
        }
        var built: [GEMMVariant: GEMMKernel] = [:], byShape: [GEMMShape: GEMMKernel] = [:]
        for (shape, variant) in variants.sorted(by: { $0.key < $1.key }) {
            if built[variant] == nil {
                do {
                    built[variant] = try Self.buildGEMM(variant, tuning: tuned, passed: passed, cache: cache,
                                                        context: context, device: device)
                } catch {
                    // A stale or foreign entry never stops the backend: the heuristic covers it.
                    FileHandle.standardError.write(Data("warning: tuned GEMM \(variant) for \(shape) ignored: \(error)\n".utf8))
                    continue
                }
            }
            byShape[shape] = built[variant]
        }
        tunedKernels = byShape
    }

    /// The tuned variant per shape bucket this backend runs.
    public var tunedShapes: [GEMMShape: GEMMVariant] { tunedKernels.mapValues(\.variant) }

    /// `gemm.cl` built with `variant`'s tile (checked for the device first).
    public func gemmKernel(_ variant: GEMMVariant) throws -> GEMMKernel {
        try Self.buildGEMM(variant, tuning: tuning, passed: buildPieces.passed, cache: buildPieces.cache,
                           context: context, device: device)
    }

    /// `attention.cl` built with `keyBlock` keys per block (`ATT_KB`; the tuner's candidates):
    /// the inference kernel for `headDim` at `vectorWidth` (nil: the backend's choice).
    public func attentionKernel(keyBlock: Int, headDim: Int, vectorWidth: Int? = nil) throws -> AttentionKernel {
        var t = tuning
        t.attentionKeyBlock = keyBlock
        let width = try attentionWidth(headDim: headDim, width: vectorWidth)
        let kernel = try Self.buildKernel("kernel_attention_v\(width)", of: "attention.cl", tuning: t,
                                          passed: buildPieces.passed, cache: buildPieces.cache, context: context,
                                          device: device)
        return AttentionKernel(keyBlock: keyBlock, headDim: headDim, vectorWidth: width, kernel: kernel)
    }

    private static func buildGEMM(_ variant: GEMMVariant, tuning: KernelTuning, passed: String, cache: ProgramCache,
                                  context: CLContext, device: CLDeviceInfo) throws -> GEMMKernel {
        let kernel = try buildKernel(variant.kernel == .panel ? "kernel_gemm_panel" : "kernel_gemm_tiled", of: "gemm.cl",
                                     tuning: variant.applied(to: tuning), passed: passed, cache: cache, context: context,
                                     device: device)
        return GEMMKernel(variant: variant, kernel: kernel)
    }

    /// The kernel `name` of `file` built with `tuning` (checked for the device first) apart from
    /// the start-up programs: a tuner's candidate or a tuned variant.
    private static func buildKernel(_ name: String, of file: String, tuning t: KernelTuning, passed: String,
                                    cache: ProgramCache, context: CLContext, device: CLDeviceInfo) throws -> CLKernel {
        try t.validate(for: device)
        guard let source = EmbeddedKernels.sources[file] else { throw CLError.missingKernel(file) }
        let options = ["-cl-std=CL1.2", t.buildOptions, passed].filter { !$0.isEmpty }.joined(separator: " ")
        let (program, _) = try cache.build(file: file, source: source, options: options, context: context, device: device)
        guard let kernel = try CLKernel.all(in: program).first(where: { $0.name == name }) else {
            throw CLError.missingKernel(name)
        }
        return kernel
    }

    /// The split-K workspace, grown to at least `count` floats; call with `splitKLock` held. A
    /// replaced buffer lives on until the commands that use it have finished (OpenCL's rule).
    func splitKWorkspace(count: Int) throws -> CLBuffer {
        if let b = splitKBuffer, b.count >= count { return b }
        let b = try CLBuffer(context: context, count: count, type: .float32)
        splitKBuffer = b
        return b
    }

    // MARK: - Profiling

    /// Runs `body` and returns each kernel launched inside it with its device time in
    /// nanoseconds, from profiling events. Only here do commands go to a profiling queue (made
    /// on first use): the plain queue, which every other command uses, records no timestamps.
    /// Meant for one thread at a time (bench, tune): another thread's commands during `body`
    /// go to the profiling queue too, but are ordered against its own only within one queue.
    public func profile(_ body: () throws -> Void) throws -> [(kernel: String, nanoseconds: UInt64)] {
        try profiled(body).map { ($0.0, try $0.1.durationNanoseconds()) }
    }

    /// `profile` with each kernel's start and end (device clock, nanoseconds): a launch of
    /// several kernels (split-K's slices and reduction) spans the first start to the last end,
    /// the gap between them included.
    package func profileSpans(_ body: () throws -> Void) throws -> [(kernel: String, start: UInt64, end: UInt64)] {
        try profiled(body).map { e in
            let (start, end) = try e.1.span()
            return (e.0, start, end)
        }
    }

    private func profiled(_ body: () throws -> Void) throws -> [(String, CLEvent)] {
        try plainQueue.finish()
        // Under splitKLock: a split-K pair never straddles the switch (slices on one queue,
        // their reduction on the other).
        let timed = try splitKLock.withLock {
            try queueLock.withLock {
                if profilingQueue == nil { profilingQueue = try CLQueue(context: context, device: device.device, profiling: true) }
                current = profilingQueue!
                return profilingQueue!
            }
        }
        lock.withLock { eventLog = [] }
        defer {
            try? timed.finish()
            splitKLock.withLock { queueLock.withLock { current = plainQueue } }
            lock.withLock { eventLog = nil }
        }
        try body()
        try timed.finish()
        return lock.withLock { eventLog ?? [] }
    }

    // MARK: - Memory

    public func makeBuffer(count: Int, type: ElementType) throws -> any DeviceBuffer {
        try CLBuffer(context: context, count: count, type: type)
    }

    public func upload(_ values: [Float], to buffer: any DeviceBuffer) throws {
        try write(values, to: buffer, type: .float32)
    }

    public func upload(_ values: [Int32], to buffer: any DeviceBuffer) throws {
        try write(values, to: buffer, type: .int32)
    }

    /// Writes of up to this many bytes (a batch's ids, positions, offsets: 20 bytes a token) do
    /// not block; larger ones (weights, at load) do, so their staging copies never pile up.
    static let nonBlockingWriteLimit = 1 << 20

    /// A small write does not block: the host does not wait for the queue to reach it (a
    /// blocking write on an in-order queue would first wait for every kernel before it, the
    /// previous batch's included), so a batch's uploads and kernels are enqueued without a pause
    /// and its result read is the only wait. Its bytes go to a staging copy that lives until the
    /// write has run: the write's completion callback frees it (tinygrad's `pending_copyin`,
    /// without a list). No flush: the batch's result read submits everything at once.
    private func write<T>(_ values: [T], to buffer: any DeviceBuffer, type: ElementType) throws {
        let b = cl(buffer)
        try requireBuffer(b, values.count, type, "upload target")
        guard !values.isEmpty else { return }
        let bytes = values.count * MemoryLayout<T>.stride
        if bytes > Self.nonBlockingWriteLimit {
            try values.withUnsafeBytes { raw in
                try clCheck(clEnqueueWriteBuffer(queue.handle, b.handle, cl_bool(CL_TRUE), 0, raw.count,
                                                 raw.baseAddress, 0, nil, nil), "clEnqueueWriteBuffer")
            }
            return
        }
        let staging = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        values.withUnsafeBytes { staging.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
        var event: cl_event? = nil
        let status = clEnqueueWriteBuffer(queue.handle, b.handle, cl_bool(CL_FALSE), 0, bytes, staging, 0, nil, &event)
        guard status == CL_SUCCESS, let event else {
            staging.deallocate()
            try clCheck(status, "clEnqueueWriteBuffer")
            return
        }
        let freeStaging: @convention(c) (cl_event?, cl_int, UnsafeMutableRawPointer?) -> Void = { _, _, p in
            p?.deallocate()
        }
        let callback = clSetEventCallback(event, CL_COMPLETE, freeStaging, staging)
        if callback != CL_SUCCESS {
            // No callback: wait for this write here instead, then free its copy.
            var e: cl_event? = event
            let waited = clWaitForEvents(1, &e)
            staging.deallocate()
            clReleaseEvent(event)
            try clCheck(waited, "clWaitForEvents(clEnqueueWriteBuffer)")
            return
        }
        clReleaseEvent(event)
    }

    public func download(_ buffer: any DeviceBuffer, count: Int?) throws -> [Float] {
        let b = cl(buffer)
        let n = count ?? b.count
        try requireBuffer(b, n, b.elementType, "download source")
        var out = [Float](repeating: 0, count: n)
        guard n > 0 else { return out }
        try out.withUnsafeMutableBytes { raw in
            try clCheck(clEnqueueReadBuffer(queue.handle, b.handle, cl_bool(CL_TRUE), 0, raw.count,
                                            raw.baseAddress, 0, nil, nil), "clEnqueueReadBuffer")
        }
        if b.elementType == .int32 {
            out = out.map { Float(Int32(bitPattern: $0.bitPattern)) }
        }
        return out
    }

    public func synchronize() throws { try queue.finish() }

    /// `role` changes nothing here: OpenCL runs every layer in fp32.
    public func makeLinear(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int,
                           role: LinearRole, trainable: Bool) throws -> any DeviceLinear {
        try CLLinear(backend: self, weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures,
                     trainable: trainable)
    }

    // MARK: - Launching

    private func cl(_ buffer: any DeviceBuffer) -> CLBuffer {
        guard let b = buffer as? CLBuffer else {
            preconditionFailure("a \(type(of: buffer)) was passed to the OpenCL backend")
        }
        return b
    }

    /// A kernel argument: `i` an `int` (must fit 32 bits), `u` a `uint`.
    enum Arg {
        case i(Int), u(UInt32), f(Float), b(any DeviceBuffer)
    }

    /// Sets the arguments of `kernel` and enqueues it over `global` (rounded up to `local`).
    /// Without `local`, `tuning.fixedGroup` (when set) along dimension 0: such kernels guard
    /// their dimension 0 against the rounded-up global size.
    func launch(_ kernel: String, _ args: [Arg], global: [Int], local: [Int]? = nil) throws {
        guard let k = kernels[kernel] else { throw CLError.missingKernel(kernel) }
        try launch(k, args, global: global, local: local)
    }

    /// `launch` for a kernel object (a GEMM variant built apart from the start-up programs).
    func launch(_ k: CLKernel, _ args: [Arg], global: [Int], local: [Int]? = nil) throws {
        let kernel = k.name
        let local = local ?? (tuning.fixedGroup > 0 ? [tuning.fixedGroup] + global.dropFirst().map { _ in 1 } : nil)
        var g = global
        if let local { for i in g.indices { g[i] = (g[i] + local[i] - 1) / local[i] * local[i] } }
        if g.contains(0) { return }
        try lock.withLock {
            for (i, arg) in args.enumerated() {
                switch arg {
                case .i(let v):
                    guard let v32 = Int32(exactly: v) else {
                        throw BackendError.invalidArgument("\(kernel) argument \(i) = \(v) exceeds 32 bits")
                    }
                    try k.set(i, v32)
                case .u(let v): try k.set(i, Int32(bitPattern: v))
                case .f(let v): try k.set(i, v)
                case .b(let buffer): try k.set(i, cl(buffer))
                }
            }
            var event: cl_event? = nil
            let wantEvent = eventLog != nil
            let status: cl_int = withUnsafeMutablePointer(to: &event) { ep in
                g.withUnsafeBufferPointer { gp in
                    return (local ?? []).withUnsafeBufferPointer { lb in
                        clEnqueueNDRangeKernel(queue.handle, k.handle, cl_uint(g.count), nil, gp.baseAddress,
                                               local == nil ? nil : lb.baseAddress, 0, nil, wantEvent ? ep : nil)
                    }
                }
            }
            try clCheck(status, "clEnqueueNDRangeKernel(\(kernel), global \(g), local \(local ?? []))")
            if let event { eventLog?.append((kernel, CLEvent(handle: event))) }
        }
    }

    /// Copies `count` elements between buffers on the device.
    func copy(_ src: any DeviceBuffer, to dst: any DeviceBuffer, count: Int) throws {
        try lock.withLock {
            try clCheck(clEnqueueCopyBuffer(queue.handle, cl(src).handle, cl(dst).handle, 0, 0, count * 4, 0, nil, nil),
                        "clEnqueueCopyBuffer")
        }
    }

    /// Sets the first `count` elements of `buffer` to the 4-byte `pattern` on the device.
    func fill(_ buffer: any DeviceBuffer, pattern: UInt32, count: Int) throws {
        guard count > 0 else { return }
        var bits = pattern
        try lock.withLock {
            try clCheck(clEnqueueFillBuffer(queue.handle, cl(buffer).handle, &bits, 4, 0, count * 4, 0, nil, nil),
                        "clEnqueueFillBuffer")
        }
    }
}
