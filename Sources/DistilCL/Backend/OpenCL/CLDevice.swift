import Foundation
import COpenCL

/// One OpenCL device as discovered: its handles and the facts `distilcl devices` prints.
public struct CLDeviceInfo: Sendable, Equatable {
    /// Index in the flattened list over all platforms (what `--device opencl:N` names).
    public var index: Int
    public var platformName: String
    public var name: String
    public var vendor: String
    public var driverVersion: String
    public var deviceVersion: String
    public var isGPU: Bool
    public var isCPU: Bool
    public var computeUnits: Int
    public var globalMemoryBytes: UInt64
    public var maxWorkGroupSize: Int
    public var localMemoryBytes: UInt64
    // Raw handles; platform and device ids are not reference counted in OpenCL 1.2.
    nonisolated(unsafe) var platform: cl_platform_id?
    nonisolated(unsafe) var device: cl_device_id?

    public var typeName: String { isGPU ? "GPU" : (isCPU ? "CPU" : "accelerator") }

    public static func == (l: CLDeviceInfo, r: CLDeviceInfo) -> Bool { l.index == r.index && l.name == r.name }
}

/// Lists every device of every OpenCL platform. Returns `[]` when no ICD is installed.
public func listOpenCLDevices() throws -> [CLDeviceInfo] {
    var platformCount: cl_uint = 0
    let status = clGetPlatformIDs(0, nil, &platformCount)
    if status == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || platformCount == 0 { return [] }
    try clCheck(status, "clGetPlatformIDs")
    var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
    try clCheck(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")

    var result: [CLDeviceInfo] = []
    for platform in platforms {
        let platformName = try platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
        var deviceCount: cl_uint = 0
        let s = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
        if s == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
        try clCheck(s, "clGetDeviceIDs")
        var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
        try clCheck(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil),
                    "clGetDeviceIDs")
        for device in devices {
            let type: cl_device_type = try deviceValue(device, CL_DEVICE_TYPE)
            let units: cl_uint = try deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS)
            let memory: cl_ulong = try deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE)
            let local: cl_ulong = try deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE)
            let wg: Int = try deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE)
            result.append(CLDeviceInfo(
                index: result.count, platformName: platformName,
                name: try deviceString(device, CL_DEVICE_NAME),
                vendor: try deviceString(device, CL_DEVICE_VENDOR),
                driverVersion: try deviceString(device, CL_DRIVER_VERSION),
                deviceVersion: try deviceString(device, CL_DEVICE_VERSION),
                isGPU: type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0,
                isCPU: type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0,
                computeUnits: Int(units), globalMemoryBytes: memory, maxWorkGroupSize: wg,
                localMemoryBytes: local, platform: platform, device: device))
        }
    }
    return result
}

// MARK: - Info queries

private func platformString(_ p: cl_platform_id?, _ what: cl_platform_info) throws -> String {
    var size = 0
    try clCheck(clGetPlatformInfo(p, what, 0, nil, &size), "clGetPlatformInfo")
    var bytes = [CChar](repeating: 0, count: size + 1)
    try clCheck(clGetPlatformInfo(p, what, size, &bytes, nil), "clGetPlatformInfo")
    return cString(bytes)
}

func deviceString(_ d: cl_device_id?, _ what: Int32) throws -> String {
    var size = 0
    try clCheck(clGetDeviceInfo(d, cl_device_info(what), 0, nil, &size), "clGetDeviceInfo")
    var bytes = [CChar](repeating: 0, count: size + 1)
    try clCheck(clGetDeviceInfo(d, cl_device_info(what), size, &bytes, nil), "clGetDeviceInfo")
    return cString(bytes)
}

func deviceValue<T>(_ d: cl_device_id?, _ what: Int32) throws -> T {
    let p = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: 16)
    defer { p.deallocate() }
    try clCheck(clGetDeviceInfo(d, cl_device_info(what), MemoryLayout<T>.size, p, nil), "clGetDeviceInfo")
    return p.load(as: T.self)
}

func cString(_ bytes: [CChar]) -> String {
    let end = bytes.firstIndex(of: 0) ?? bytes.count
    return String(decoding: bytes[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        .trimmingCharacters(in: .whitespaces)
}
