import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The path of the temporary output file, as a C string the signal handler can unlink.
/// Written only by `OutputWriter` on the main thread, before and after the handler is installed.
nonisolated(unsafe) private var pendingTemporaryPath: UnsafeMutablePointer<CChar>?

/// SIGINT/SIGTERM/SIGHUP: remove the temporary output (async-signal-safe calls only) and exit
/// 128 + signal. The signals are also unblocked: a parent may have started us with them blocked
/// (Foundation's `Process` passes its thread's mask on), and a blocked SIGINT would never arrive.
func installInterruptHandlers() {
    var set = sigset_t()
    sigemptyset(&set)
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal(sig) { received in
            if let path = pendingTemporaryPath { unlink(path) }
            _exit(128 + received)
        }
        sigaddset(&set, sig)
    }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Writes JSON Lines to stdout, or to `--output FILE` atomically: the lines go to a temporary
/// file in the same folder, renamed over FILE by `commit()`. `abort()` (any failure) or an
/// interrupt removes the temporary file, so FILE is either the complete output or untouched.
final class OutputWriter {
    private let destination: String?
    private var temporary: String?
    private var descriptor: Int32 = -1
    private var buffer: [UInt8] = []
    private let encoder: JSONEncoder

    /// Opens the output: stdout when `path` is nil, else a temporary file next to `path`.
    init(path: String?) throws {
        destination = path
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        buffer.reserveCapacity(1 << 16)
        // stdout: a closed pipe (`| head`) ends the process by SIGPIPE, quietly, as for any filter.
        guard let path else { return }
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CLIError(.failure, "--output '\(path)' is a folder")
        }
        let folder = url.deletingLastPathComponent().path
        var template = Array("\(folder)/.\(url.lastPathComponent).partial-XXXXXX".utf8CString)
        installInterruptHandlers()
        // No signal between creating the file and recording its name for the handler.
        var interrupts = sigset_t()
        sigemptyset(&interrupts)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&interrupts, sig) }
        pthread_sigmask(SIG_BLOCK, &interrupts, nil)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let reason = String(cString: strerror(errno))
        if fd >= 0 {
            pendingTemporaryPath = template.withUnsafeBufferPointer { strdup($0.baseAddress!) }
        }
        pthread_sigmask(SIG_UNBLOCK, &interrupts, nil)
        guard fd >= 0 else {
            throw CLIError(.failure, "cannot create a file in '\(folder)' for --output: \(reason)")
        }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        temporary = tempPath
        descriptor = fd
        // mkstemp makes 0600; an output file is an ordinary file (0644 less the umask).
        let mask = umask(0)
        umask(mask)
        fchmod(fd, 0o666 & ~mask)
    }

    deinit {
        abort()
    }

    /// Appends one JSON value as a line.
    func write<T: Encodable>(_ value: T) throws {
        let data: Data
        do { data = try encoder.encode(value) } catch {
            throw CLIError(.failure, "cannot encode output: \(error)")
        }
        buffer.append(contentsOf: data)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { try flush() }
    }

    /// Writes out what is buffered.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        let fd = destination == nil ? STDOUT_FILENO : descriptor
        var written = 0
        try buffer.withUnsafeBytes { raw in
            while written < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    throw CLIError(.failure, "cannot write \(destination ?? "stdout"): \(reason)")
                }
                written += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and, for a file, closes and renames the temporary file over the destination.
    func commit() throws {
        try flush()
        guard let destination, let temporary else { return }
        if fsync(descriptor) != 0 && errno != EINVAL {
            throw CLIError(.failure, "cannot write \(destination): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        descriptor = -1
        guard rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            abort()
            throw CLIError(.failure, "cannot rename the output into place at \(destination): \(reason)")
        }
        self.temporary = nil
        clearPending()
    }

    /// Drops the temporary file (nothing to do for stdout or after `commit`).
    func abort() {
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
        if let temporary { unlink(temporary); self.temporary = nil }
        clearPending()
    }

    private func clearPending() {
        if let p = pendingTemporaryPath {
            pendingTemporaryPath = nil
            free(p)
        }
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, bytes, count)
    #else
    return Darwin.write(fd, bytes, count)
    #endif
}
