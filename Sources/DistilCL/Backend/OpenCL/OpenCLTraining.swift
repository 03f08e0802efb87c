import Foundation

// TEMPORARY: stubs until the OpenCL training kernels land (Kernels/training.cl).
extension OpenCLBackend: TrainingBackend {
    private func pending(_ op: String) -> BackendError { .invalidArgument("\(op) is not on OpenCL yet") }

    public func fill(_ buffer: any DeviceBuffer, value: Float, count: Int) throws { throw pending("fill") }
    public func refresh(_ layer: any DeviceLinear) throws { throw pending("refresh") }
    public func layerNorm(_ x: any DeviceBuffer, residual: (any DeviceBuffer)?, gamma: any DeviceBuffer,
                          beta: any DeviceBuffer, rows: Int, cols: Int, eps: Float, out: any DeviceBuffer,
                          stats: any DeviceBuffer) throws { throw pending("layerNorm stats") }
    public func attention(qkv: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int, scale: Float,
                          out: any DeviceBuffer, lse: any DeviceBuffer, dropout: DropoutKey?) throws { throw pending("attention lse") }
    public func dropout(_ x: any DeviceBuffer, count: Int, key: DropoutKey, out: any DeviceBuffer) throws { throw pending("dropout") }
    public func linearBackward(dOut: any DeviceBuffer, input x: any DeviceBuffer, _ layer: any DeviceLinear, rows: Int,
                               activation: Activation, preActivation: (any DeviceBuffer)?,
                               dInput: (any DeviceBuffer)?, accumulateInput: Bool,
                               gradWeight: any DeviceBuffer, gradBias: (any DeviceBuffer)?) throws { throw pending("linearBackward") }
    public func layerNormBackward(dOut: any DeviceBuffer, x: any DeviceBuffer, residual: (any DeviceBuffer)?,
                                  stats: any DeviceBuffer, gamma: any DeviceBuffer, rows: Int, cols: Int,
                                  dInput: any DeviceBuffer, accumulateInput: Bool,
                                  gradGamma: any DeviceBuffer, gradBeta: any DeviceBuffer) throws { throw pending("layerNormBackward") }
    public func attentionBackward(qkv: any DeviceBuffer, out: any DeviceBuffer, lse: any DeviceBuffer,
                                  dOut: any DeviceBuffer, sequences: PackedSequences, heads: Int, headDim: Int,
                                  scale: Float, dropout: DropoutKey?, dQKV: any DeviceBuffer) throws { throw pending("attentionBackward") }
    public func embeddingBackward(dOut: any DeviceBuffer, segments: EmbeddingSegments, dim: Int,
                                  grad: any DeviceBuffer) throws { throw pending("embeddingBackward") }
    public func scatterAddRows(_ dOut: any DeviceBuffer, index: any DeviceBuffer, rows: Int, dim: Int,
                               dSource: any DeviceBuffer) throws { throw pending("scatterAddRows") }
    public func softmaxCrossEntropy(logits: any DeviceBuffer, labels: any DeviceBuffer, rows: Int, classes: Int,
                                    gradScale: Float, losses: any DeviceBuffer, dLogits: any DeviceBuffer) throws { throw pending("softmaxCrossEntropy") }
    public func sumOfSquares(_ x: any DeviceBuffer, count: Int, out: any DeviceBuffer, index: Int) throws { throw pending("sumOfSquares") }
    public func adamW(parameter: any DeviceBuffer, gradient: any DeviceBuffer, m: any DeviceBuffer, v: any DeviceBuffer,
                      count: Int, step: AdamWStep) throws { throw pending("adamW") }
}
