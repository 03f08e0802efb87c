import COpenCL
import Foundation

/// Builds OpenCL programs from the embedded `Kernels/*.cl` sources, caching the compiled
/// binaries on disk keyed by device name, driver version, build options and source hash, so
/// only the first run on a machine pays the compiler (seconds on PoCL).
///
/// Cache folder: `$DISTILCL_CACHE_DIR`, else `$XDG_CACHE_HOME/distilcl`, else
/// `~/.cache/distilcl`. `DISTILCL_NO_CACHE=1` turns it off. A stale or unreadable entry is
/// ignored and rebuilt from source.
struct ProgramCache {
    let directory: URL?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if environment["DISTILCL_NO_CACHE"] == "1" {
            directory = nil
        } else if let dir = environment["DISTILCL_CACHE_DIR"], !dir.isEmpty {
            directory = URL(fileURLWithPath: dir)
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            directory = URL(fileURLWithPath: xdg).appendingPathComponent("distilcl")
        } else {
            directory = FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/distilcl")
        }
    }

    /// Builds `source` (named `file`) for `device`, from the cache when possible.
    /// - Returns: the program and whether it came from the cache.
    func build(file: String, source: String, options: String, context: CLContext,
               device: CLDeviceInfo) throws -> (CLProgram, cached: Bool) {
        let key = fnv1a64([device.name, device.driverVersion, device.platformName, options, source]
            .joined(separator: "\u{1}"))
        let entry = directory?.appendingPathComponent(
            "\(file.replacingOccurrences(of: ".cl", with: ""))-\(String(key, radix: 16)).bin")

        if let entry, let binary = try? Data(contentsOf: entry), !binary.isEmpty,
           let program = try? fromBinary(binary, options: options, context: context, device: device) {
            return (program, true)
        }
        let program = try fromSource(source, options: options, context: context, device: device)
        if let entry, let binary = try? binaryOf(program) {
            try? FileManager.default.createDirectory(at: entry.deletingLastPathComponent(),
                                                     withIntermediateDirectories: true)
            try? binary.write(to: entry, options: .atomic)
        }
        return (program, false)
    }

    // MARK: - Building

    private func fromSource(_ source: String, options: String, context: CLContext,
                            device: CLDeviceInfo) throws -> CLProgram {
        var status: cl_int = 0
        let handle: cl_program? = source.withCString { ptr in
            var p: UnsafePointer<CChar>? = ptr
            var length = strlen(ptr)
            return clCreateProgramWithSource(context.handle, 1, &p, &length, &status)
        }
        guard let handle, status == CL_SUCCESS else { throw CLError.call("clCreateProgramWithSource", status) }
        let program = CLProgram(handle: handle)
        try link(program, options: options, device: device)
        return program
    }

    private func fromBinary(_ binary: Data, options: String, context: CLContext,
                            device: CLDeviceInfo) throws -> CLProgram {
        var status: cl_int = 0, binaryStatus: cl_int = 0
        var dev = device.device
        let handle: cl_program? = binary.withUnsafeBytes { raw in
            var length = raw.count
            var ptr: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return clCreateProgramWithBinary(context.handle, 1, &dev, &length, &ptr, &binaryStatus, &status)
        }
        guard let handle, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            throw CLError.call("clCreateProgramWithBinary", status != CL_SUCCESS ? status : binaryStatus)
        }
        let program = CLProgram(handle: handle)
        try link(program, options: options, device: device)
        return program
    }

    private func link(_ program: CLProgram, options: String, device: CLDeviceInfo) throws {
        var dev = device.device
        let status = clBuildProgram(program.handle, 1, &dev, options, nil, nil)
        if status != CL_SUCCESS {
            let log = (try? buildLog(program, device: device)) ?? "(no build log)"
            if status == CL_BUILD_PROGRAM_FAILURE {
                throw CLError.build(log: log, options: options, device: device.name)
            }
            throw CLError.call("clBuildProgram; build log:\n\(log)\n", status)
        }
    }

    private func buildLog(_ program: CLProgram, device: CLDeviceInfo) throws -> String {
        var size = 0
        let what = cl_program_build_info(CL_PROGRAM_BUILD_LOG)
        try clCheck(clGetProgramBuildInfo(program.handle, device.device, what, 0, nil, &size), "clGetProgramBuildInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try clCheck(clGetProgramBuildInfo(program.handle, device.device, what, size, &bytes, nil),
                    "clGetProgramBuildInfo")
        return cString(bytes)
    }

    private func binaryOf(_ program: CLProgram) throws -> Data {
        var size = 0
        try clCheck(clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARY_SIZES),
                                     MemoryLayout<Int>.size, &size, nil), "clGetProgramInfo(BINARY_SIZES)")
        guard size > 0 else { return Data() }
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBufferPointer { buf in
            var ptr: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            try clCheck(clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARIES),
                                         MemoryLayout<UnsafeMutablePointer<UInt8>>.size, &ptr, nil),
                        "clGetProgramInfo(BINARIES)")
        }
        return Data(bytes)
    }
}

/// 64-bit FNV-1a: a cache key, not a cryptographic hash.
func fnv1a64(_ text: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}
