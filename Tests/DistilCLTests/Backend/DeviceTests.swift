import DistilCL
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
        for bad in ["gpu:1", "opencl:-1", "opencl:x", "cuda"] {
            #expect(throws: DeviceSelectionError.badChoice(bad)) { try DeviceChoice(parsing: bad) }
        }
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
        var tuning = KernelTuning.default(for: device)
        tuning.panelWidth = 7   // gemm.cl: #error "PN must be 8, 16 or 32"
        do {
            _ = try OpenCLBackend(device: device, tuning: tuning, cacheDirectory: FileManager.default.temporaryDirectory)
            Issue.record("the build should have failed")
        } catch let error as CLError {
            #expect(String(describing: error).contains("PN must be 8, 16 or 32"), "\(error)")
            #expect(String(describing: error).contains("-DPN=7"))
        }
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
