import ArgumentParser
import DistilCL
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List every OpenCL platform and device, the CPU path's kernels, and which device --device auto picks.")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let devices = try listOpenCLDevices()
        let auto = try DeviceChoice.auto.resolve(among: devices)
        let autoName = auto.map { "opencl:\($0.index) (\($0.name))" } ?? "cpu (no OpenCL GPU found)"
        if json {
            let list: [[String: Any]] = devices.map { d in
                ["index": d.index, "platform": d.platformName, "name": d.name, "vendor": d.vendor,
                 "type": d.typeName, "compute_units": d.computeUnits,
                 "global_memory_bytes": d.globalMemoryBytes, "local_memory_bytes": d.localMemoryBytes,
                 "max_work_group_size": d.maxWorkGroupSize, "driver": d.driverVersion,
                 "version": d.deviceVersion, "selector": "opencl:\(d.index)"]
            }
            let k = CPUKernelInfo.current
            let precisions: [String: Any] = Dictionary(uniqueKeysWithValues: Precision.allCases.map {
                ($0.rawValue, k.matmulImplementation($0) ?? NSNull()) as (String, Any)
            })
            let cpu: [String: Any] = ["model": k.cpuModel, "flags": k.cpuFlags, "library": k.library, "isa": k.isa,
                                      "c_kernels": k.cKernels, "matmul": precisions]
            let object: [String: Any] = ["devices": list, "cpu": cpu,
                                         "auto": auto.map { "opencl:\($0.index)" } ?? "cpu"]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if devices.isEmpty { print("No OpenCL platform or device found.") }
        for d in devices {
            print("opencl:\(d.index)  \(d.name)")
            print("    platform \(d.platformName); \(d.typeName); \(d.computeUnits) compute units; "
                  + "\(d.globalMemoryBytes >> 20) MiB; driver \(d.driverVersion); \(d.deviceVersion)")
        }
        let k = CPUKernelInfo.current
        print("cpu  the CPU path: \(k.cpuModel)")
        print("    \(k.library), ISA \(k.isa); C kernels \(k.cKernels); flags: \(k.cpuFlags.joined(separator: " "))")
        for p in Precision.allCases {
            let line: String
            do {
                try k.require(p)
                line = k.matmulImplementation(p).map { "matmul \($0)" } ?? "oneDNN offers no kernel"
            } catch {
                line = "unavailable: \(error)"
            }
            print("    --precision \(p): \(line)")
        }
        print("auto picks: \(autoName)")
    }
}
