@testable import DistilCL
import Foundation
import Testing

/// Comparisons of a training step's gradients and an optimiser's final weights with golden
/// tensors PyTorch wrote (`grad.<name>`, `final.<name>`, transformers' parameter names).
enum GoldenTensors {
    /// Every gradient within 1e-4 of its tensor's largest |golden value|; parameters in
    /// `zeroGradient` (exactly 0 in exact arithmetic: both sides hold rounding noise) within
    /// 1e-4 of the model's largest. The parameter names must be transformers' set.
    static func expectGradients(_ grads: GradientTable, file: SafeTensorsFile, prefix: String = "grad.",
                                zeroGradient: Set<String>, _ what: String, on bc: BackendCase) throws {
        var compared: [(String, [Float], [Float])] = []
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(grads.gradients[i], count: p.count)
            for part in p.parts { compared.append((part.name, Array(got[part.range]), try file.floats(prefix + part.name))) }
        }
        let goldenNames = Set(file.names.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
        #expect(Set(compared.map(\.0)) == goldenNames, "\(what): parameters differ from transformers' named_parameters()")
        let largest = compared.map { $0.2.map(abs).max() ?? 0 }.max() ?? 0
        for (name, mine, want) in compared {
            #expect(mine.count == want.count, "\(what) \(name): \(mine.count) values, golden \(want.count)")
            let scale = zeroGradient.contains(name) ? largest : (want.map(abs).max() ?? 0)
            let worst = zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst.isFinite && worst <= 1e-4 * scale, "\(bc.name) \(what) \(name): max |diff| \(worst), bound \(1e-4 * scale)")
        }
    }

    /// Every weight after the steps within 1e-4 of its tensor's largest |golden value|; the
    /// `zeroGradient` ones (Adam turns their rounding noise into steps of about lr) moved less
    /// than `movementBound` from `initial` (`[parameter][values]`).
    static func expectFinalWeights(_ grads: GradientTable, file: SafeTensorsFile, initial: [[Float]],
                                   zeroGradient: Set<String>, movementBound: Float, _ what: String,
                                   on bc: BackendCase) throws {
        for (i, p) in grads.parameters.enumerated() {
            let got = try bc.backend.download(p.value, count: p.count)
            for part in p.parts {
                let mine = Array(got[part.range])
                if zeroGradient.contains(part.name) {
                    let moved = zip(mine, initial[i][part.range]).map { abs($0 - $1) }.max() ?? 0
                    #expect(moved <= movementBound, "\(bc.name) \(what) \(part.name) moved \(moved) > \(movementBound)")
                    continue
                }
                let want = try file.floats("final." + part.name)
                let worst = zip(mine, want).map { abs($0 - $1) }.max() ?? .infinity
                let bound = 1e-4 * (want.map(abs).max() ?? 0)
                #expect(mine.count == want.count && worst <= bound,
                        "\(bc.name) \(what) final \(part.name): max |diff| \(worst), bound \(bound)")
            }
        }
    }
}
