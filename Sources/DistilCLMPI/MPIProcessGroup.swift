import DistilCL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `ProcessGroup` on Open MPI's `MPI_COMM_WORLD`, for runs started by `mpirun`/`srun`.
///
/// The library (Debian's `libopenmpi3`, `libmpi.so.40`) is loaded at run time, only when a
/// launcher started the process: no target links it, a run without a launcher initialises
/// nothing, and a binary built without Open MPI still runs alone. The handles are Open MPI's
/// ABI: `MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM` are the addresses of its `ompi_mpi_*`
/// objects, `MPI_IN_PLACE` is 1 and `MPI_STATUS_IGNORE` null. Errors abort the job (MPI's
/// default handler): a rank that dies ends every rank rather than leaving them waiting.
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {   // C pointers into a library never unloaded
    public let rank: Int
    public let size: Int

    private typealias InitThread = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?, Int32, UnsafeMutablePointer<Int32>?) -> Int32
    private typealias CommInt = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?) -> Int32
    private typealias AllReduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?, OpaquePointer?, OpaquePointer?) -> Int32
    private typealias AllGather = @convention(c) (UnsafeRawPointer?, Int32, OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?, OpaquePointer?) -> Int32
    private typealias IAllReduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?, OpaquePointer?, OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    private typealias TestAll = @convention(c) (Int32, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32
    private typealias WaitAll = @convention(c) (Int32, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutableRawPointer?) -> Int32
    private typealias Abort = @convention(c) (OpaquePointer?, Int32) -> Int32
    private typealias Finalize = @convention(c) () -> Int32

    private let allReduce: AllReduce
    private let allGatherFn: AllGather
    private let iAllReduce: IAllReduce
    private let testAll: TestAll
    private let waitAllFn: WaitAll
    /// The non-blocking reductions started and not yet waited for (`MPI_Request`s: pointers in Open MPI).
    private var requests: [OpaquePointer?] = []
    private let abortFn: Abort
    private let finalizeFn: Finalize
    private let world, float, double, uint64, sum: OpaquePointer
    /// `MPI_IN_PLACE` in Open MPI.
    private static var inPlace: UnsafeRawPointer? { UnsafeRawPointer(bitPattern: 1) }

    /// Whether an MPI launcher started this process (Open MPI's `mpirun`, or PMIx/PMI under `srun`).
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// The launcher's local rank of this process on its host (which of the host's devices it takes).
    public static var localRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_LOCAL_RANK"] ?? env["SLURM_LOCALID"] ?? env["MPI_LOCALRANKID"]).flatMap { Int($0) }
    }

    /// Loads Open MPI and initialises it (`MPI_Init_thread`, funneled: only the main thread calls MPI).
    public init() throws {
        guard let lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL) else {
            throw MPIError.unavailable("an MPI launcher started this process but Open MPI's libmpi.so.40 cannot be loaded (Debian: apt install openmpi-bin libopenmpi-dev, or run bash scripts/setup.sh)")
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let s = dlsym(lib, name) else { throw MPIError.unavailable("libmpi has no \(name): not Open MPI?") }
            return s
        }
        let initThread = unsafeBitCast(try symbol("MPI_Init_thread"), to: InitThread.self)
        let commRank = unsafeBitCast(try symbol("MPI_Comm_rank"), to: CommInt.self)
        let commSize = unsafeBitCast(try symbol("MPI_Comm_size"), to: CommInt.self)
        allReduce = unsafeBitCast(try symbol("MPI_Allreduce"), to: AllReduce.self)
        allGatherFn = unsafeBitCast(try symbol("MPI_Allgather"), to: AllGather.self)
        iAllReduce = unsafeBitCast(try symbol("MPI_Iallreduce"), to: IAllReduce.self)
        testAll = unsafeBitCast(try symbol("MPI_Testall"), to: TestAll.self)
        waitAllFn = unsafeBitCast(try symbol("MPI_Waitall"), to: WaitAll.self)
        abortFn = unsafeBitCast(try symbol("MPI_Abort"), to: Abort.self)
        finalizeFn = unsafeBitCast(try symbol("MPI_Finalize"), to: Finalize.self)
        world = OpaquePointer(try symbol("ompi_mpi_comm_world"))
        float = OpaquePointer(try symbol("ompi_mpi_float"))
        double = OpaquePointer(try symbol("ompi_mpi_double"))
        uint64 = OpaquePointer(try symbol("ompi_mpi_uint64_t"))
        sum = OpaquePointer(try symbol("ompi_mpi_op_sum"))
        // Open MPI's non-blocking reductions allocate a temporary buffer as large as the
        // reduction on every call and free it after. glibc serves such sizes with fresh mmap'd
        // pages, which the kernel zeroes on first touch: 2 × 91 MB of page faults per step for
        // MiniLM's gradients, 15% of a rank's time (perf, 2 × 1 thread). Keeping large blocks
        // in the heap and the heap untrimmed lets every step reuse the previous one's pages.
        // A training process's heap keeps its peak size; nothing is returned to the system.
        // (malloc.h's mallopt, which Swift's Glibc module leaves out: M_MMAP_MAX is −4, M_TRIM_THRESHOLD −1.)
        if let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {   // RTLD_DEFAULT
            let mallopt = unsafeBitCast(f, to: (@convention(c) (Int32, Int32) -> Int32).self)
            _ = mallopt(-4, 0)
            _ = mallopt(-1, Int32.max)
        }
        var provided: Int32 = 0
        try Self.check(initThread(nil, nil, 1, &provided), "MPI_Init_thread")
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(commRank(world, &r), "MPI_Comm_rank")
        try Self.check(commSize(world, &s), "MPI_Comm_size")
        (rank, size) = (Int(r), Int(s))
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try chunks(values.count) { start, n in
            try Self.check(allReduce(Self.inPlace, values.baseAddress! + start, n, float, sum, world), "MPI_Allreduce")
        }
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try chunks(values.count) { start, n in
            try Self.check(allReduce(Self.inPlace, values.baseAddress! + start, n, double, sum, world), "MPI_Allreduce")
        }
    }

    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try chunks(values.count) { start, n in
            var request: OpaquePointer?
            try Self.check(iAllReduce(Self.inPlace, values.baseAddress! + start, n, float, sum, world, &request), "MPI_Iallreduce")
            requests.append(request)
        }
    }

    public func poll() throws {
        guard !requests.isEmpty else { return }
        var done: Int32 = 0
        try Self.check(testAll(Int32(requests.count), &requests, &done, nil), "MPI_Testall")
        if done != 0 { requests.removeAll() }
    }

    public func waitAll() throws {
        guard !requests.isEmpty else { return }
        try Self.check(waitAllFn(Int32(requests.count), &requests, nil), "MPI_Waitall")
        requests.removeAll()
    }

    public func allGather(_ value: UInt64) throws -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: size)
        try all.withUnsafeMutableBytes { out in
            try Self.check(allGatherFn(&mine, 1, uint64, out.baseAddress, 1, uint64, world), "MPI_Allgather")
        }
        return all
    }

    /// Ends every process of the job with `status` (a rank that cannot go on: the others would wait for it).
    public func abort(_ status: Int32) -> Never {
        _ = abortFn(world, status)
        exit(status)
    }

    /// `MPI_Finalize`, once, at the end of a run that went well.
    public func finalize() { _ = finalizeFn() }

    /// MPI counts are 32-bit: longer buffers go in pieces.
    private func chunks(_ count: Int, _ body: (Int, Int32) throws -> Void) throws {
        var start = 0
        while start < count {
            let n = min(count - start, Int(Int32.max))
            try body(start, Int32(n))
            start += n
        }
    }

    private static func check(_ code: Int32, _ call: String) throws {
        guard code == 0 else { throw MPIError.failed("\(call) returned \(code)") }
    }
}

public enum MPIError: Error, CustomStringConvertible {
    case unavailable(String)
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let what), .failed(let what): what
        }
    }
}
