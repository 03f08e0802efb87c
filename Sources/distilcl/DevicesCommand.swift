import ArgumentParser
import DistilCL
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List every OpenCL platform and device, and which one --device auto picks.")

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
            let object: [String: Any] = ["devices": list,
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
        print("cpu  the CPU path (OpenBLAS)")
        print("auto picks: \(autoName)")
    }
}
