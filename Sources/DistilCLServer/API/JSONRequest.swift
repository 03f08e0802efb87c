import Foundation
import NIOCore

/// A request's JSON object, read leniently where TEI's shapes are unions (a text, a pair, or a
/// list of either) and strictly where a field has one type: a wrong type is a 400 naming the
/// field, never a crash.
struct JSONRequest {
    let object: [String: Any]

    /// Parses `buffer`; 400 unless it is a JSON object.
    init(_ buffer: ByteBuffer) throws {
        let data = Data(buffer.readableBytesView)
        guard !data.isEmpty else { throw APIError.empty("The request body is empty: send a JSON object") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw APIError.malformed("The request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError.malformed("The request body must be a JSON object")
        }
        self.object = object
    }

    init(object: [String: Any]) { self.object = object }

    func has(_ key: String) -> Bool { object[key].map { !($0 is NSNull) } ?? false }

    func bool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, Self.isBool(n) else {
            throw APIError.malformed("`\(key)` must be true or false")
        }
        return n.boolValue
    }

    func int(_ key: String, atLeast minimum: Int) throws -> Int? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, !Self.isBool(n), let value = Int(exactly: n.doubleValue) else {
            throw APIError.malformed("`\(key)` must be an integer")
        }
        guard value >= minimum else { throw APIError.validation("`\(key)` must be at least \(minimum), got \(value)") }
        return value
    }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw APIError.malformed("`\(key)` must be a string") }
        return s
    }

    /// TEI's `inputs`: a text, or a list of texts. With `pairs`, TEI's `/predict` form (see
    /// `predictInputs`).
    /// - Returns: the texts (with their pair) and whether the request was a list.
    func texts(_ key: String, pairs: Bool = false) throws -> (items: [TextInput], isBatch: Bool) {
        if pairs { return try predictInputs(key) }
        guard has(key) else { throw APIError.empty("`\(key)` is missing") }
        let value = object[key]
        if let text = value as? String {
            return ([try TextInput(text, nil, index: nil)], false)
        }
        guard let list = value as? [Any] else {
            throw APIError.malformed("`\(key)` must be a string or a list of strings")
        }
        guard !list.isEmpty else { throw APIError.empty("`\(key)` is an empty list") }
        let items = try list.enumerated().map { i, item -> TextInput in
            guard let text = item as? String else { throw APIError.malformed("`\(key)[\(i)]` must be a string") }
            return try TextInput(text, nil, index: i)
        }
        return (items, true)
    }

    /// TEI's `/predict` `inputs`, read as TEI reads them: a string is one text; a list of one
    /// string is one text and a list of two strings one pair (`["a", "b"]`: a pair, not two
    /// texts); any other list is a batch whose items are `[text]`, `[text, text_pair]` or (as
    /// DistilCL also takes) a bare text: `[["a"], ["b"]]` is two texts, `[["a", "b"]]` one pair.
    /// Anything else is 400 with TEI's wording.
    func predictInputs(_ key: String) throws -> (items: [TextInput], isBatch: Bool) {
        let expected = "a string, a pair of strings [string, string] or a batch of mixed strings and pairs "
            + "[[string], [string, string], ...]"
        guard has(key) else { throw APIError.empty("`\(key)` is missing") }
        let value = object[key]
        if let text = value as? String {
            return ([try TextInput(text, nil, index: nil)], false)
        }
        guard let list = value as? [Any] else { throw APIError.malformed("`\(key)` must be \(expected)") }
        guard !list.isEmpty else { throw APIError.empty("`\(key)` is an empty list") }
        if list.count <= 2, let strings = list as? [String] {
            return ([try TextInput(strings[0], strings.count == 2 ? strings[1] : nil, index: nil)], false)
        }
        let items = try list.enumerated().map { i, item -> TextInput in
            if let text = item as? String { return try TextInput(text, nil, index: i) }
            if let sequence = item as? [String], (1...2).contains(sequence.count) {
                return try TextInput(sequence[0], sequence.count == 2 ? sequence[1] : nil, index: i)
            }
            throw APIError.malformed("`\(key)[\(i)]` must be a string, [text] or [text, text_pair]: `\(key)` must be \(expected)")
        }
        return (items, true)
    }

    /// A list of JSON objects, or one object (then `isBatch` is false).
    func objects(_ key: String) throws -> (items: [JSONRequest], isBatch: Bool) {
        guard has(key) else { throw APIError.empty("`\(key)` is missing") }
        if let one = object[key] as? [String: Any] { return ([JSONRequest(object: one)], false) }
        guard let list = object[key] as? [Any] else { throw APIError.malformed("`\(key)` must be an object or a list of objects") }
        guard !list.isEmpty else { throw APIError.empty("`\(key)` is an empty list") }
        return (try list.enumerated().map { i, item in
            guard let o = item as? [String: Any] else { throw APIError.malformed("`\(key)[\(i)]` must be an object") }
            return JSONRequest(object: o)
        }, true)
    }

    /// Whether an `NSNumber` from JSONSerialization came from `true`/`false`.
    static func isBool(_ n: NSNumber) -> Bool {
        // Booleans come back as the boolean NSNumber subclass, whose type code is "c" (char).
        String(cString: n.objCType) == "c"
    }
}

/// One input text, and its pair for sentence-pair classification.
struct TextInput {
    var text: String
    var pair: String?

    init(_ text: String, _ pair: String?, index: Int?) throws {
        let which = index.map { " (input \($0))" } ?? ""
        guard !text.isEmpty else { throw APIError.empty("The text\(which) is empty") }
        if let pair, pair.isEmpty { throw APIError.empty("The text pair\(which) is empty") }
        self.text = text
        self.pair = pair
    }
}
