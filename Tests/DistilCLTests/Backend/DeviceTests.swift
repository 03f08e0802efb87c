@testable import DistilCL
import Foundation
import Testing

@Suite("Device choice and the OpenCL host layer")
struct DeviceTests {
    @Test("--device values parse, bad ones are clear errors")
    func parsing() throws {
        #expect(try DeviceChoice(parsing: "auto") == .auto)
        #expect(try DeviceChoice(parsing: "CPU") == .cpu)
        #expect(try DeviceChoice(parsing: "opencl") == .opencl(nil))
        #expect(try DeviceChoice(parsing: "opencl:3") == .opencl(3))
        #expect(try DeviceChoice(parsing: "GPU") == .gpu)
        for bad in ["gpu:1", "opencl:-1", "opencl:x", "cuda"] {
            #expect(throws: DeviceSelectionError.badChoice(bad)) { try DeviceChoice(parsing: bad) }
        }
    }

    /// `gpu` never falls back to a CPU device: on a machine with PoCL alone it is an error
    /// naming the devices there are (`opencl` takes PoCL's CPU device, as documented).
    @Test("gpu takes the first OpenCL GPU, and is an error without one")
    func gpuChoice() throws {
        let cpuDevice = CLDeviceInfo(index: 0, platformName: "PoCL", name: "pthread", vendor: "x", driverVersion: "3",
                                     deviceVersion: "OpenCL 3.0", isGPU: false, isCPU: true, computeUnits: 2,
                                     globalMemoryBytes: 1 << 30, maxWorkGroupSize: 4096, localMemoryBytes: 1 << 20)
        var gpuDevice = cpuDevice
        (gpuDevice.index, gpuDevice.name, gpuDevice.isGPU, gpuDevice.isCPU) = (1, "H200", true, false)
        #expect(throws: DeviceSelectionError.noGPU(["pthread (CPU)"])) { try DeviceChoice.gpu.resolve(among: [cpuDevice]) }
        #expect(throws: DeviceSelectionError.noGPU([])) { try DeviceChoice.gpu.resolve(among: []) }
        #expect(try DeviceChoice.gpu.resolve(among: [cpuDevice, gpuDevice]) == gpuDevice)
        #expect(try DeviceChoice.opencl(nil).resolve(among: [cpuDevice]) == cpuDevice)
        // Reduced precision runs on the CPU path alone: gpu with it is an error, not the CPU path.
        #expect(throws: PrecisionError.self) { try makeBackend(.gpu, precision: .bf16) }
        let devices = try listOpenCLDevices()
        if !devices.contains(where: \.isGPU) {
            #expect(throws: DeviceSelectionError.self) { try makeBackend(.gpu) }
        }
    }

    /// `mpirun -np 4` on a host with two GPUs: local ranks 0 and 2 take the first, 1 and 3 the
    /// second, for auto, gpu and opencl; an index or cpu is the same on every rank.
    @Test("data-parallel processes take the host's GPUs in turn by local rank")
    func localRanks() throws {
        let cpuDevice = CLDeviceInfo(index: 0, platformName: "PoCL", name: "pthread", vendor: "x", driverVersion: "3",
                                     deviceVersion: "OpenCL 3.0", isGPU: false, isCPU: true, computeUnits: 2,
                                     globalMemoryBytes: 1 << 30, maxWorkGroupSize: 4096, localMemoryBytes: 1 << 20)
        var a = cpuDevice, b = cpuDevice
        (a.index, a.name, a.isGPU, a.isCPU) = (1, "H100 a", true, false)
        (b.index, b.name, b.isGPU, b.isCPU) = (2, "H100 b", true, false)
        let host = [cpuDevice, a, b]
        for choice in [DeviceChoice.auto, .gpu, .opencl(nil)] {
            #expect(try (0..<4).map { try choice.resolve(among: host, localRank: $0)?.name } == ["H100 a", "H100 b", "H100 a", "H100 b"])
        }
        #expect(try DeviceChoice.opencl(0).resolve(among: host, localRank: 1) == cpuDevice)
        #expect(try DeviceChoice.cpu.resolve(among: host, localRank: 1) == nil)
        // Without a GPU, opencl stays on the one device there is; auto on the CPU path.
        #expect(try DeviceChoice.opencl(nil).resolve(among: [cpuDevice], localRank: 3) == cpuDevice)
        #expect(try DeviceChoice.auto.resolve(among: [cpuDevice], localRank: 3) == nil)
    }

    @Test("auto takes an OpenCL GPU, else the CPU path; an index past the list is an error")
    func resolution() throws {
        let devices = try listOpenCLDevices()
        let auto = try DeviceChoice.auto.resolve(among: devices)
        #expect(auto?.isGPU ?? true)
        #expect(auto == devices.first(where: \.isGPU))
        #expect(try DeviceChoice.cpu.resolve(among: devices) == nil)
        #expect(throws: DeviceSelectionError.noSuchDevice(devices.count, devices.count)) {
            try DeviceChoice.opencl(devices.count).resolve(among: devices)
        }
        #expect(try makeBackend(.cpu) is CPUBackend)
    }

    @Test("a failed build carries the build log", arguments: (try? listOpenCLDevices()) ?? [])
    func buildLog(_ device: CLDeviceInfo) throws {
        do {   // elementwise.cl: #error "DISTILCL_INJECT_BUILD_ERROR: …"
            _ = try OpenCLBackend(device: device, extraOptions: "-DDISTILCL_INJECT_BUILD_ERROR",
                                  cacheDirectory: FileManager.default.temporaryDirectory)
            Issue.record("the build should have failed")
        } catch let error as CLError {
            #expect(String(describing: error).contains("a build failure on purpose"), "\(error)")
            #expect(String(describing: error).contains("-DDISTILCL_INJECT_BUILD_ERROR") && String(describing: error).contains("-DPN=32"))
        }
    }

    /// Timestamps only when timing is asked for: commands go to a queue without profiling,
    /// and `profile` moves them to a profiling queue for its body alone.
    @Test("profiling only inside profile", arguments: (try? listOpenCLDevices()) ?? [])
    func profilingOnDemand(_ device: CLDeviceInfo) throws {
        let backend = try OpenCLBackend(device: device)
        #expect(!backend.queue.profiling)
        let x = try backend.buffer([Float](repeating: 1, count: 64)), out = try backend.makeBuffer(count: 64)
        let events = try backend.profile {
            #expect(backend.queue.profiling)
            try backend.activation(x, count: 64, .gelu, out: out)
        }
        #expect(events.count == 1 && events[0].kernel.hasPrefix("kernel_activation"), "\(events)")
        #expect(!backend.queue.profiling)
        try backend.activation(x, count: 64, .relu, out: out)
        #expect(try backend.download(out) == [Float](repeating: 1, count: 64))
    }

    @Test("the second start loads every program from the binary cache", arguments: (try? listOpenCLDevices()) ?? [])
    func binaryCache(_ device: CLDeviceInfo) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distilcl-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try OpenCLBackend(device: device, cacheDirectory: dir)
        #expect(first.cachedPrograms == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(files.count == 5, "\(files)")
        let second = try OpenCLBackend(device: device, cacheDirectory: dir)
        #expect(second.cachedPrograms == 5)
        // The cached programs work.
        let x = try second.buffer([Float](arrayLiteral: 1, 2, 3))
        try second.activation(x, count: 3, .relu, out: x)
        #expect(try second.download(x) == [1, 2, 3])
    }
}
