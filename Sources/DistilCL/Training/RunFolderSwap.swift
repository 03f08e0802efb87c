import Foundation

/// How `RunFolder` replaces `--out` as a whole, so that a kill at any moment leaves either the
/// previous complete model or the new one, never a mix of the two.
///
/// Beside `OUT` (in its parent folder) a save uses three names:
///
///     .OUT.partial   being written (removed on recovery)
///     .OUT.new       complete, about to become OUT
///     .OUT.old       the previous OUT, during the swap
///
/// A save writes the whole new folder as `.OUT.partial`, renames it `.OUT.new` (atomic), then
/// renames `OUT` → `.OUT.old` and `.OUT.new` → `OUT`, moves into `OUT` whatever else the old
/// folder held (files that are not the run's), and removes `.OUT.old`. `recover()` repairs any
/// interrupted state: no `OUT` but `.OUT.new` completes the swap; no `OUT` but `.OUT.old` rolls
/// it back; `OUT` with `.OUT.new` (the swap had not begun) drops the new one; `OUT` with
/// `.OUT.old` finishes the clean-up.
extension RunFolder {
    private var parent: URL { url.deletingLastPathComponent() }
    var partialFolder: URL { parent.appendingPathComponent(".\(url.lastPathComponent).partial") }
    var newFolder: URL { parent.appendingPathComponent(".\(url.lastPathComponent).new") }
    var oldFolder: URL { parent.appendingPathComponent(".\(url.lastPathComponent).old") }

    private func exists(_ u: URL) -> Bool { FileManager.default.fileExists(atPath: u.path) }

    /// Brings the folder back to one complete state after an interrupted save (see above).
    /// Does nothing when no save was interrupted; never creates `OUT` from nothing.
    func recover() throws {
        if exists(partialFolder) { try? FileManager.default.removeItem(at: partialFolder) }
        if !exists(url) {
            if exists(newFolder) {
                try move(newFolder, to: url)
            } else if exists(oldFolder) {
                try move(oldFolder, to: url)
            }
        } else if exists(newFolder) {
            try? FileManager.default.removeItem(at: newFolder)
        }
        if exists(url), exists(oldFolder) { try finishSwap() }
    }

    /// Makes the complete folder `staged` (written beside `OUT`, on the same file system) the
    /// new `OUT`.
    func swapIn(_ staged: URL) throws {
        try move(staged, to: newFolder)
        if exists(url) { try move(url, to: oldFolder) }
        try move(newFolder, to: url)
        try finishSwap()
    }

    /// Moves what the previous folder held besides the run's own files into `OUT`, then
    /// removes the previous folder.
    private func finishSwap() throws {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: oldFolder.path)) ?? []
        where !Self.modelFiles.contains(name) && !Self.isCheckpoint(name) && !exists(url.appendingPathComponent(name)) {
            try move(oldFolder.appendingPathComponent(name), to: url.appendingPathComponent(name))
        }
        try? FileManager.default.removeItem(at: oldFolder)
    }

    private func move(_ from: URL, to: URL) throws {
        guard rename(from.path, to.path) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TrainingError.outputWrite("cannot rename \(from.path) to \(to.path): \(reason)")
        }
    }
}
