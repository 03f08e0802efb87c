import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's `cblas_sgemm`, loaded at run time for `bench kernels`' comparison row: no target
/// links OpenBLAS (nor its gfortran and quadmath), and the row is left out where the library is
/// not installed (Debian: libopenblas0).
struct OpenBLAS: @unchecked Sendable {   // two C function pointers into a library never unloaded
    private typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                              UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
                                              Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    private typealias CoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?
    private let sgemm: SGEMM
    /// The core OpenBLAS's dynamic dispatch picked (`OPENBLAS_CORETYPE` overrides it).
    let core: String

    /// The library, or nil where no `libopenblas.so.0` can be opened.
    static let shared: OpenBLAS? = {
        guard let handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL) ?? dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL),
              let g = dlsym(handle, "cblas_sgemm") else { return nil }
        let name = dlsym(handle, "openblas_get_corename").map { unsafeBitCast($0, to: CoreName.self) }
        let core = name.flatMap { $0() }.map { String(cString: $0) } ?? "unknown core"
        return OpenBLAS(sgemm: unsafeBitCast(g, to: SGEMM.self), core: core)
    }()

    /// C[m, n] = A[m, k] · W[n, k]ᵀ, row-major (CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112).
    func gemmTransposedB(m: Int, n: Int, k: Int, a: [Float], w: [Float], c: inout [Float]) {
        sgemm(101, 111, 112, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), w, Int32(k), 0, &c, Int32(n))
    }
}
