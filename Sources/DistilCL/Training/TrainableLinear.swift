import Foundation

/// A linear layer as training sees it: the device layer (whose fast layout
/// `TrainingBackend.refresh` rebuilds), its plain float32 weight `[out, in]` and bias `[out]`,
/// their gradients (the same shapes), and their optimizer slots: the index of each in the
/// gradient table, which is also the index of its AdamW moments (`AdamWOptimizer.m[slot]`,
/// `.v[slot]`). Nothing here is optional but the bias: a layer loaded for inference has no
/// plain weight and is refused when the view is made, not force-unwrapped mid-step.
struct TrainableLinear {
    let layer: any DeviceLinear
    /// `[out, in]`, float32.
    let weight: any DeviceBuffer
    /// `[out]`, float32; nil for a layer without a bias.
    let bias: (any DeviceBuffer)?
    /// ∂loss/∂weight `[out, in]`, accumulated by `linearBackward`.
    let gradWeight: any DeviceBuffer
    /// ∂loss/∂bias `[out]`.
    let gradBias: (any DeviceBuffer)?
    /// The weight's and bias's slots in the gradient table and the optimizer.
    let weightSlot: Int
    let biasSlot: Int?

    var outFeatures: Int { layer.outFeatures }
    var inFeatures: Int { layer.inFeatures }
}

extension DeviceLinear {
    /// The plain weight `[out, in]` training updates, or an error for a layer uploaded for
    /// inference (`trainable: false`).
    func trainableWeight() throws -> any DeviceBuffer {
        guard let weight else {
            throw TrainingError.backendCannotTrain("a linear layer [\(outFeatures), \(inFeatures)] loaded for inference")
        }
        return weight
    }
}

extension GradientTable {
    /// `layer` with its gradients and optimizer slots; throws when the layer has no plain
    /// weight or its parameters are not in the table.
    func linear(_ layer: any DeviceLinear) throws -> TrainableLinear {
        let weight = try layer.trainableWeight()
        guard let w = slot(of: weight) else {
            throw TrainingError.backendCannotTrain("a linear layer [\(layer.outFeatures), \(layer.inFeatures)] outside the trained parameters")
        }
        var b: Int?
        if let bias = layer.bias {
            guard let i = slot(of: bias) else {
                throw TrainingError.backendCannotTrain("a bias [\(layer.outFeatures)] outside the trained parameters")
            }
            b = i
        }
        return TrainableLinear(layer: layer, weight: weight, bias: layer.bias, gradWeight: gradients[w],
                               gradBias: b.map { gradients[$0] }, weightSlot: w, biasSlot: b)
    }
}

extension TrainingBackend {
    /// `linearBackward` of a trainable layer: its weight's and bias's gradients are `layer`'s own.
    func linearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ layer: TrainableLinear, rows: Int,
                        activation: Activation, preActivation: (any DeviceBuffer)?, dInput: (any DeviceBuffer)?,
                        accumulateInput: Bool) throws {
        try linearBackward(dOut: dOut, input: x, layer.layer, rows: rows, activation: activation,
                           preActivation: preActivation, dInput: dInput, accumulateInput: accumulateInput,
                           gradWeight: layer.gradWeight, gradBias: layer.gradBias)
    }
}
