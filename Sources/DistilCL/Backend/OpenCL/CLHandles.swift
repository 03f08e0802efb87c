import COpenCL
import Foundation

// One owner per OpenCL handle: each final class releases its handle in deinit.
//
// Sendable: OpenCL handles themselves are thread-safe to retain, release and pass between
// threads (OpenCL 1.2 §A.2), except clSetKernelArg, which `OpenCLBackend` serialises under
// its lock. These wrappers hold an immutable handle, hence `@unchecked Sendable`.

/// Owns a `cl_context`.
final class CLContext: @unchecked Sendable {
    let handle: cl_context

    init(device: cl_device_id?) throws {
        var status: cl_int = 0
        var d = device
        guard let c = clCreateContext(nil, 1, &d, nil, nil, &status), status == CL_SUCCESS else {
            throw CLError.call("clCreateContext", status)
        }
        handle = c
    }

    deinit { clReleaseContext(handle) }
}

/// Owns an in-order `cl_command_queue`, with profiling enabled when asked (only timing needs it).
final class CLQueue: @unchecked Sendable {
    let handle: cl_command_queue
    let profiling: Bool

    init(context: CLContext, device: cl_device_id?, profiling: Bool) throws {
        var status: cl_int = 0
        self.profiling = profiling
        let props = cl_command_queue_properties(profiling ? CL_QUEUE_PROFILING_ENABLE : 0)
        guard let q = clCreateCommandQueue(context.handle, device, props, &status), status == CL_SUCCESS else {
            throw CLError.call("clCreateCommandQueue", status)
        }
        handle = q
    }

    func finish() throws { try clCheck(clFinish(handle), "clFinish") }

    deinit { clReleaseCommandQueue(handle) }
}

/// Owns a built `cl_program`.
final class CLProgram: @unchecked Sendable {
    let handle: cl_program

    init(handle: cl_program) { self.handle = handle }

    deinit { clReleaseProgram(handle) }
}

/// Owns a `cl_kernel`. Arguments are set by the one owner that launches it.
final class CLKernel: @unchecked Sendable {
    let handle: cl_kernel
    let name: String
    let program: CLProgram   // keeps the program alive as long as the kernel

    private init(handle: cl_kernel, name: String, program: CLProgram) {
        self.handle = handle
        self.name = name
        self.program = program
    }

    /// Every kernel of a built program (clCreateKernelsInProgram), named by its function.
    static func all(in program: CLProgram) throws -> [CLKernel] {
        var count: cl_uint = 0
        try clCheck(clCreateKernelsInProgram(program.handle, 0, nil, &count), "clCreateKernelsInProgram")
        var handles = [cl_kernel?](repeating: nil, count: Int(count))
        try clCheck(clCreateKernelsInProgram(program.handle, count, &handles, nil), "clCreateKernelsInProgram")
        var kernels: [CLKernel] = []
        for case let handle? in handles {
            var size = 0
            let what = cl_kernel_info(CL_KERNEL_FUNCTION_NAME)
            try clCheck(clGetKernelInfo(handle, what, 0, nil, &size), "clGetKernelInfo")
            var bytes = [CChar](repeating: 0, count: size + 1)
            try clCheck(clGetKernelInfo(handle, what, size, &bytes, nil), "clGetKernelInfo")
            kernels.append(CLKernel(handle: handle, name: cString(bytes), program: program))
        }
        return kernels
    }

    func set(_ index: Int, _ value: Int32) throws {
        var v = value
        try clCheck(clSetKernelArg(handle, cl_uint(index), 4, &v), "clSetKernelArg(\(name), \(index))")
    }

    func set(_ index: Int, _ value: Float) throws {
        var v = value
        try clCheck(clSetKernelArg(handle, cl_uint(index), 4, &v), "clSetKernelArg(\(name), \(index))")
    }

    func set(_ index: Int, _ buffer: CLBuffer) throws {
        var m: cl_mem? = buffer.handle
        try clCheck(clSetKernelArg(handle, cl_uint(index), MemoryLayout<cl_mem>.size, &m),
                    "clSetKernelArg(\(name), \(index))")
    }

    deinit { clReleaseKernel(handle) }
}

/// Owns a `cl_mem` buffer of `count` 4-byte elements.
final class CLBuffer: DeviceBuffer, @unchecked Sendable {
    let handle: cl_mem
    let count: Int
    let elementType: ElementType

    init(context: CLContext, count: Int, type: ElementType) throws {
        var status: cl_int = 0
        let bytes = max(count, 1) * type.byteSize
        guard let m = clCreateBuffer(context.handle, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status),
              status == CL_SUCCESS else {
            throw CLError.call("clCreateBuffer(\(bytes) bytes)", status)
        }
        handle = m
        self.count = count
        self.elementType = type
    }

    deinit { clReleaseMemObject(handle) }
}

/// Owns a `cl_event`; gives the profiled start and end of the command it marks.
final class CLEvent: @unchecked Sendable {
    let handle: cl_event

    init(handle: cl_event) { self.handle = handle }

    /// Nanoseconds between the command's start and end (the queue has profiling enabled).
    func durationNanoseconds() throws -> UInt64 {
        let (start, end) = try span()
        return end >= start ? end - start : 0
    }

    /// The command's start and end on the device clock, in nanoseconds.
    func span() throws -> (start: UInt64, end: UInt64) {
        try clCheck(clWaitForEvents(1, [handle]), "clWaitForEvents")
        var start: cl_ulong = 0, end: cl_ulong = 0
        try clCheck(clGetEventProfilingInfo(handle, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil),
                    "clGetEventProfilingInfo(START)")
        try clCheck(clGetEventProfilingInfo(handle, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil),
                    "clGetEventProfilingInfo(END)")
        return (UInt64(start), UInt64(end))
    }

    deinit { clReleaseEvent(handle) }
}
