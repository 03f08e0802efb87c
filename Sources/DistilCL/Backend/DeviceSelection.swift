import Foundation

/// Which backend to run on: `auto`, `cpu`, `gpu`, `opencl` or `opencl:N` (N from `distilcl devices`).
/// The environment variable `DISTILCL_DEVICE` gives the default.
public enum DeviceChoice: Equatable, Sendable, CustomStringConvertible {
    /// An OpenCL GPU when one exists, else the CPU path.
    case auto
    /// The CPU path (oneDNN), no OpenCL.
    case cpu
    /// An OpenCL device: the given index, or when nil the first GPU, else the first device
    /// (PoCL's CPU device on a machine without a GPU).
    case opencl(Int?)
    /// The first OpenCL GPU; an error when there is none (never a CPU device in its place).
    case gpu

    public static let environmentVariable = "DISTILCL_DEVICE"

    public init(parsing text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        switch t {
        case "auto", "": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl(nil)
        case "gpu": self = .gpu
        default:
            if t.hasPrefix("opencl:"), let n = Int(t.dropFirst(7)), n >= 0 {
                self = .opencl(n)
            } else {
                throw DeviceSelectionError.badChoice(text)
            }
        }
    }

    /// `DISTILCL_DEVICE` when set, else `auto`.
    public static func fromEnvironment() throws -> DeviceChoice {
        guard let v = ProcessInfo.processInfo.environment[environmentVariable] else { return .auto }
        return try DeviceChoice(parsing: v)
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .opencl(nil): return "opencl"
        case .gpu: return "gpu"
        case .opencl(let n?): return "opencl:\(n)"
        }
    }

    /// The OpenCL device this choice names among `devices`, or nil for the CPU path. A
    /// data-parallel process (`localRank`: its index among the job's processes on this host)
    /// takes the host's GPUs in turn where the choice names no index (auto, gpu, opencl).
    public func resolve(among devices: [CLDeviceInfo], localRank: Int? = nil) throws -> CLDeviceInfo? {
        let gpus = devices.filter(\.isGPU)
        let turn = localRank.flatMap { gpus.isEmpty ? nil : gpus[$0 % gpus.count] }
        switch self {
        case .cpu: return nil
        case .auto: return turn ?? gpus.first
        case .opencl(nil):
            guard let d = turn ?? gpus.first ?? devices.first else {
                throw DeviceSelectionError.noOpenCLDevice
            }
            return d
        case .opencl(let n?):
            guard n < devices.count else { throw DeviceSelectionError.noSuchDevice(n, devices.count) }
            return devices[n]
        case .gpu:
            guard let d = turn ?? gpus.first else {
                throw DeviceSelectionError.noGPU(devices.map { "\($0.name) (\($0.typeName))" })
            }
            return d
        }
    }
}

public enum DeviceSelectionError: Error, CustomStringConvertible, Equatable {
    case badChoice(String)
    case noOpenCLDevice
    case noSuchDevice(Int, Int)
    /// `--device gpu` on a machine whose OpenCL devices (named) are not GPUs.
    case noGPU([String])

    public var description: String {
        switch self {
        case .badChoice(let t):
            return "unknown device '\(t)': use auto, cpu, gpu, opencl or opencl:N (see `distilcl devices`)"
        case .noOpenCLDevice:
            return "no OpenCL device found (on Debian: apt-get install pocl-opencl-icd for the CPU device)"
        case .noGPU(let devices):
            return "no OpenCL GPU found (OpenCL devices: \(devices.isEmpty ? "none" : devices.joined(separator: ", "))); "
                + "--device opencl runs on the first OpenCL device whatever its kind, --device cpu on the CPU path"
        case .noSuchDevice(let n, let count):
            return "no OpenCL device \(n): \(count) device(s) found (see `distilcl devices`)"
        }
    }
}

/// Makes the backend a choice names, with linear layers at `precision`. Reduced precision runs
/// on the CPU path only: `auto` then picks it, and an OpenCL choice is an error.
public func makeBackend(_ choice: DeviceChoice, precision: Precision = .fp32,
                        tuning: KernelTuning? = nil, localRank: Int? = nil) throws -> any ComputeBackend {
    if precision != .fp32 {
        switch choice {
        case .opencl, .gpu: throw PrecisionError.notOnOpenCL(precision)
        case .auto, .cpu: break
        }
        return try CPUBackend(precision: precision)
    }
    let devices = choice == .cpu ? [] : try listOpenCLDevices()
    guard let device = try choice.resolve(among: devices, localRank: localRank) else { return CPUBackend() }
    return try OpenCLBackend(device: device, tuning: tuning)
}
