@testable import DistilCL
import Foundation
import Testing

/// `RunFolder.recover()` on every state an interrupted save can leave (see
/// `RunFolderSwap.swift`): the folder always ends as exactly one complete model.
@Suite("RunFolder recovery")
struct RunFolderRecoveryTests {
    /// Makes `url` a folder whose `model.safetensors` says `tag`, with extra files `others`.
    static func model(_ url: URL, _ tag: String, others: [String] = []) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Data(tag.utf8).write(to: url.appendingPathComponent("model.safetensors"))
        for name in others { try Data(name.utf8).write(to: url.appendingPathComponent(name)) }
    }

    static func tag(_ url: URL) -> String? {
        (try? Data(contentsOf: url.appendingPathComponent("model.safetensors"))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The states, by what exists: OUT, .OUT.partial, .OUT.new, .OUT.old; and what OUT holds after.
    @Test("every interrupted state recovers to the previous or the new model",
          arguments: [
              ("written, not yet complete", ["out": "old", "partial": "new"], "old"),
              ("complete, swap not begun", ["out": "old", "new": "new"], "old"),
              ("between the two renames", ["new": "new", "old": "old"], "new"),
              ("swapped, old not yet removed", ["out": "new", "old": "old"], "new"),
              ("first save, between the renames", ["new": "new"], "new"),
              ("only the previous folder left (rolled back)", ["old": "old", "partial": "new"], "old"),
              ("nothing interrupted", ["out": "old"], "old"),
          ])
    func recover(_ name: String, _ state: [String: String], _ expected: String) throws {
        let folder = try TemporaryFolder()
        let run = RunFolder(url: folder.file("out"))
        let places = ["out": run.url, "partial": run.partialFolder, "new": run.newFolder, "old": run.oldFolder]
        for (place, tag) in state {
            // The user's own file lives in whichever folder was OUT before the save.
            try Self.model(places[place]!, tag, others: tag == "old" ? ["notes.txt"] : [])
        }
        try run.recover()
        #expect(Self.tag(run.url) == expected, "\(name)")
        for leftover in [run.partialFolder, run.newFolder, run.oldFolder] {
            #expect(!FileManager.default.fileExists(atPath: leftover.path), "\(name): \(leftover.lastPathComponent) left")
        }
        if state.values.contains("old") {
            #expect(FileManager.default.fileExists(atPath: run.url.appendingPathComponent("notes.txt").path),
                    "\(name): the user's file was lost")
        }
    }

    @Test("recover never creates --out from nothing")
    func nothing() throws {
        let folder = try TemporaryFolder()
        let run = RunFolder(url: folder.file("out"))
        try run.recover()
        #expect(!FileManager.default.fileExists(atPath: run.url.path))
    }
}
