// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "DistilCL",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "DistilCL", targets: ["DistilCL"]),
        .executable(name: "distilcl", targets: ["distilcl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `distilcl serve` only (the DistilCLServer target): HTTP, signals and shutdown, /metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // OpenCL 1.2 C API (ocl-icd loader + Khronos headers on Debian).
        .systemLibrary(
            name: "COpenCL",
            pkgConfig: "OpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]
        ),
        // The CPU path's GEMM: oneDNN's matmul (Debian's libdnnl-dev), kernels chosen by the
        // instruction sets the CPU reports; f32, bf16 and u8×s8.
        .target(
            name: "COneDNN",
            path: "Sources/COneDNN",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("dnnl")]
        ),
        // The CPU path's hot loops (attention per head, GELU, softmax, layernorm), vectorised per machine.
        .target(
            name: "CCPUKernels",
            path: "Sources/CCPUKernels",
            cSettings: [.unsafeFlags(["-O2", "-ffp-contract=fast"])],
            linkerSettings: [.linkedLibrary("gomp")]   // its loops share oneDNN's OpenMP threads
        ),
        // Build-time tool: turns Kernels/*.cl into Swift string constants.
        .executableTarget(name: "embed-kernels", path: "Sources/embed-kernels"),
        .plugin(
            name: "EmbedKernels",
            capability: .buildTool(),
            dependencies: ["embed-kernels"],
            path: "Plugins/EmbedKernels"
        ),
        .target(
            name: "DistilCL",
            dependencies: [
                "COpenCL",
                "CCPUKernels",
                "COneDNN",
            ],
            path: "Sources/DistilCL",
            plugins: ["EmbedKernels"]
        ),
        // Data-parallel training on Open MPI (`mpirun -np N distilcl train`): libmpi is loaded
        // at run time, only when a launcher started the process; nothing links it.
        .target(
            name: "DistilCLMPI",
            dependencies: ["DistilCL"],
            path: "Sources/DistilCLMPI"
        ),
        // `distilcl bench` and `distilcl tune`: the kernel and model benchmarks and the GEMM and
        // attention tuners, beside the core (OpenBLAS's comparison row is loaded at run time).
        .target(
            name: "DistilCLBench",
            dependencies: ["DistilCL"],
            path: "Sources/DistilCLBench"
        ),
        // The HTTP server (`distilcl serve`): routes, dynamic batching in front of the model,
        // limits, metrics and graceful shutdown. Kept out of the core library.
        .target(
            name: "DistilCLServer",
            dependencies: [
                "DistilCL",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/DistilCLServer"
        ),
        .executableTarget(
            name: "distilcl",
            dependencies: [
                "DistilCL",
                "DistilCLBench",
                "DistilCLServer",
                "DistilCLMPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/distilcl"
        ),
        .testTarget(
            name: "DistilCLTests",
            dependencies: ["DistilCL", "DistilCLBench"],
            path: "Tests/DistilCLTests"
        ),
        .testTarget(
            name: "DistilCLServerTests",
            dependencies: [
                "DistilCLServer",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/DistilCLServerTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
