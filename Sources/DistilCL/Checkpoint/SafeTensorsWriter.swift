import Foundation

/// Writes float32 tensors as a `.safetensors` file (an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the data), as
/// transformers' `save_pretrained` does. The file is written under a temporary name beside
/// the target and renamed when complete, so a reader never sees half a file.
public enum SafeTensorsWriter {
    /// Writes the tensors `entries` names (in order), asking `values(i)` for entry i's values
    /// only when it is written, so at most one tensor is in memory at a time.
    public static func write(_ entries: [(name: String, shape: [Int])], metadata: [String: String] = ["format": "pt"],
                             to url: URL, values: (Int) throws -> [Float]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for e in entries {
            let bytes = 4 * e.shape.reduce(1, *)
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad with spaces so the data is aligned
        var head = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { head.append(contentsOf: $0) }
        head.append(json)
        try writeAtomically(to: url) { handle in
            try handle.write(contentsOf: head)
            for (i, e) in entries.enumerated() {
                let v = try values(i)
                precondition(v.count == e.shape.reduce(1, *), "\(e.name): \(v.count) values for \(e.shape)")
                try v.withUnsafeBytes { try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!),
                                                                           count: $0.count, deallocator: .none)) }
            }
        }
    }
}

/// Writes `data` under a temporary name in `url`'s folder, flushes it to disk, then renames it.
func writeAtomically(_ data: Data, to url: URL) throws {
    try writeAtomically(to: url) { try $0.write(contentsOf: data) }
}

/// Lets `body` write a file under a temporary name in `url`'s folder, flushes it to disk, then
/// renames it to `url`; on any error the temporary file is removed.
func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
    let temporary = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
        throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
    }
    do {
        let handle = try FileHandle(forWritingTo: temporary)
        try body(handle)
        try handle.synchronize()
        try handle.close()
        if rename(temporary.path, url.path) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw error
    }
}
