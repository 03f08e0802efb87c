import Foundation

/// Unlabelled text for masked-LM training (issue 23), tokenised into the blocks the model reads.
///
/// As transformers' `run_mlm.py`: every text is tokenised with its special tokens
/// (`[CLS] text [SEP]`); by default the texts are concatenated and cut into blocks of
/// `maxLength` tokens, the remainder that fills no block dropped (`group_texts`), so a block
/// may start or end mid-sentence and hold several texts' `[CLS]`/`[SEP]`; `lineByLine` keeps one
/// text a block instead, cut at `maxLength`. Blank lines are skipped.
public struct MaskedLMBlocks: Sendable {
    /// One block: token ids, which are special tokens (never masked), and which continue the
    /// word before them (a `##` piece: whole-word masking takes them with it).
    public struct Block: Sendable, Equatable {
        public var ids: [Int]
        public var special: [Bool]
        public var continuesWord: [Bool]
    }

    public let blocks: [Block]

    /// Tokenises `texts`.
    public init(texts: [String], tokenizer: BertTokenizer, maxLength: Int, lineByLine: Bool) {
        let encoded = texts.map { tokenizer.encode($0, maxLength: lineByLine ? maxLength : nil) }
        let specials = Set([tokenizer.clsId, tokenizer.sepId, tokenizer.padId])
        func block(_ ids: ArraySlice<Int>, _ tokens: ArraySlice<String>) -> Block {
            Block(ids: Array(ids), special: ids.map { specials.contains($0) }, continuesWord: tokens.map { $0.hasPrefix("##") })
        }
        if lineByLine {
            blocks = encoded.map { block($0.ids[...], $0.tokens[...]) }
            return
        }
        let ids = encoded.flatMap(\.ids), tokens = encoded.flatMap(\.tokens)
        let whole = ids.count / maxLength * maxLength
        blocks = stride(from: 0, to: whole, by: maxLength).map { block(ids[$0..<($0 + maxLength)], tokens[$0..<($0 + maxLength)]) }
    }

    /// The texts of `url`: one a line, or JSON Lines with a `"text"` string (a file whose first
    /// non-blank line is a JSON object). Blank lines are skipped; a JSON line without a text is
    /// refused with its line.
    public static func texts(_ url: URL) throws -> [String] {
        let path = url.path
        let lines = TaggedData.lines(of: try LabeledData.text(of: path)).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        let jsonl = lines.first { !$0.allSatisfy(\.isWhitespace) }?.drop { $0.isWhitespace }.first == "{"
        var texts: [String] = []
        for (i, line) in lines.enumerated() where !line.allSatisfy(\.isWhitespace) {
            guard jsonl else { texts.append(line); continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let text = object["text"] as? String else {
                throw LabeledDataError.badLine(path, line: i + 1, "a JSON Lines text file needs a \"text\" string on every line")
            }
            texts.append(text)
        }
        guard !texts.isEmpty else { throw LabeledDataError.empty(path) }
        return texts
    }
}
