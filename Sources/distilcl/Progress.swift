import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on stderr: items done of the total, items/s and the time left.
/// Shown when stderr is a terminal (`isatty(2)`) or with `--progress`; redrawn at most ten
/// times a second.
final class Progress {
    /// The bar being drawn, so that warnings and errors can clear its line first.
    nonisolated(unsafe) static var current: Progress?

    let total: Int
    /// What the bar counts ("items", "steps").
    var unit = "items"
    /// Shown after the rate, e.g. the running loss.
    var detail = ""
    private let start = Date()
    private var done = 0
    private var lastDraw = Date.distantPast
    private var drawn = false

    /// A bar when stderr is a terminal or `force`, else nil.
    static func make(total: Int, force: Bool) -> Progress? {
        guard force || isatty(2) == 1, total > 0 else { return nil }
        let bar = Progress(total: total)
        current = bar
        return bar
    }

    private init(total: Int) { self.total = total }

    /// Counts `count` more items as done.
    func advance(by count: Int) {
        done = min(total, done + count)
        let now = Date()
        if done == total || now.timeIntervalSince(lastDraw) >= 0.1 {
            lastDraw = now
            draw(now: now)
        }
    }

    /// Erases the bar's line (before other stderr output).
    func clearLine() {
        guard drawn else { return }
        writeStderr("\r\u{1B}[2K")
        drawn = false
    }

    /// Draws the final state and moves to the next line.
    func finish() {
        draw(now: Date())
        writeStderr("\n")
        drawn = false
        if Progress.current === self { Progress.current = nil }
    }

    private func draw(now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(done) / elapsed
        let width = 24
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = rate > 0 ? Self.clock(Double(total - done) / rate) : "--:--"
        let extra = detail.isEmpty ? "" : "  " + detail
        let line = "[\(bar)] \(done)/\(total) \(unit)  \(String(format: "%.1f", rate)) \(unit)/s\(extra)  ETA \(eta)"
        writeStderr("\r\u{1B}[2K" + line)
        drawn = true
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
