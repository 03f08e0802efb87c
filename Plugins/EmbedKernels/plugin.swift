import Foundation
import PackagePlugin

/// Embeds the package's `Kernels/*.cl` programs into the target as Swift string constants
/// (`prelude.cl` in place of a file's `#include "prelude.cl"`; see embed-kernels).
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let kernels = context.package.directoryURL.appendingPathComponent("Kernels")
        let names = try FileManager.default.contentsOfDirectory(atPath: kernels.path)
            .filter { $0.hasSuffix(".cl") }
            .sorted()
        let inputs = names.map { kernels.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedKernels.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(names.count) OpenCL kernel files",
                executable: try context.tool(named: "embed-kernels").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
