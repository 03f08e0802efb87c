// Unicode character classes used by the BERT normalizer and pre-tokenizer.
//
// Each predicate reproduces the one Hugging Face `tokenizers` 0.22 uses (`BertNormalizer`,
// `BertPreTokenizer`), including the Unicode versions of the Rust crates behind them: the category
// tests (`unicode_categories`) use Unicode 8.0 data, the canonical combining classes
// (`unicode-normalization-alignments`) Unicode 9.0, while whitespace and lower-casing follow Rust's
// standard library (Unicode 16.0). Swift's own tables are newer, so each predicate only trusts them
// for characters old enough, and a few characters whose category changed since are listed. All
// functions work on `Unicode.Scalar` (a Python `str` character), never on Swift's grapheme-cluster
// `Character`. The agreement was checked for every code point against `tokenizers` 0.22.

// MARK: - Character classes

/// The character predicates of the BERT normalizer and pre-tokenizer.
enum BertCharacters {
    /// The Unicode version of the reference's general-category tables.
    ///
    /// Characters assigned later count as unassigned (`Cn`): they are neither controls, nor
    /// punctuation, nor non-spacing marks, so they are kept, not split off and not stripped.
    static let categoryUnicodeVersion = (major: 8, minor: 0)
    /// The Unicode version of the reference's canonical combining classes (later characters: 0).
    static let combiningClassUnicodeVersion = (major: 9, minor: 0)
    /// The Unicode version of the reference's lower-case mappings (later characters: unchanged).
    static let caseMappingUnicodeVersion = (major: 16, minor: 0)

    /// Whether `scalar` counts as whitespace: `\t`, `\n`, `\r` and every `White_Space` character.
    ///
    /// This is Rust's `char::is_whitespace` (the normalizer's and the pre-tokenizer's test), not
    /// Python's `str.isspace`; it includes U+2028/U+2029 and excludes U+200B and U+FEFF.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return scalar.properties.isWhitespace
    }

    /// Whether `scalar` is removed by text cleaning: categories `Cc`, `Cf`, `Co` (and `Cs`), except
    /// `\t`, `\n` and `\r`, which are whitespace.
    @inline(__always)
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            if value == 0x09 || value == 0x0A || value == 0x0D { return false }
            return value < 0x20 || value == 0x7F
        }
        switch referenceCategory(scalar) {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// Whether `scalar` is split off as punctuation: ASCII punctuation (33–47, 58–64, 91–96,
    /// 123–126, which includes symbols such as `$`, `+`, `^`) or any Unicode `P*` category character.
    @inline(__always)
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 33 && value <= 47) || (value >= 58 && value <= 64)
                || (value >= 91 && value <= 96) || (value >= 123 && value <= 126)
        }
        switch referenceCategory(scalar) {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// Whether `scalar` is a CJK ideograph that gets spaces around it.
    ///
    /// The ranges are those of the `tokenizers` crate (CJK Unified Ideographs, Extensions A–E,
    /// compatibility ideographs and their supplement); note Extension E starts at U+2B920 there.
    @inline(__always)
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Whether `scalar` is a non-spacing mark (`Mn`), the characters accent stripping removes.
    @inline(__always)
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x300 { return false }
        return referenceCategory(scalar) == .nonspacingMark
    }

    /// The canonical combining class used to reorder marks after decomposition.
    @inline(__always)
    static func combiningClass(_ scalar: Unicode.Scalar) -> UInt8 {
        if scalar.value < 0x300 { return 0 }
        guard isAssigned(scalar, by: combiningClassUnicodeVersion) else { return 0 }
        return scalar.properties.canonicalCombiningClass.rawValue
    }

    /// Appends the full lower-case mapping of `scalar` to `output` (Rust's `char::to_lowercase`:
    /// context-free, so `Σ` always maps to `σ` and `İ` maps to `i` + U+0307).
    @inline(__always)
    static func appendLowercase(_ scalar: Unicode.Scalar, to output: inout [Unicode.Scalar]) {
        let value = scalar.value
        if value < 0x80 {
            if value >= 0x41 && value <= 0x5A, let lower = Unicode.Scalar(value + 0x20) {
                output.append(lower)
            } else {
                output.append(scalar)
            }
            return
        }
        let properties = scalar.properties
        guard properties.changesWhenLowercased, isAssigned(scalar, by: caseMappingUnicodeVersion) else {
            output.append(scalar)
            return
        }
        output.append(contentsOf: properties.lowercaseMapping.unicodeScalars)
    }

    // MARK: - Reference Unicode versions

    /// The general category `scalar` has in the reference's (Unicode 8.0) tables; `nil` for `Cn`.
    @inline(__always)
    static func referenceCategory(_ scalar: Unicode.Scalar) -> Unicode.GeneralCategory? {
        switch scalar.value {
        // Characters whose category changed after Unicode 8.0.
        case 0x1734, 0x1171E: return .nonspacingMark
        case 0x1885, 0x1886: return .otherLetter
        case 0xA9BD: return .spacingMark
        case 0x166D, 0x111C9: return .otherPunctuation
        default:
            guard isAssigned(scalar, by: categoryUnicodeVersion) else { return nil }
            return scalar.properties.generalCategory
        }
    }

    /// Whether `scalar` was assigned in Unicode `version` or earlier.
    @inline(__always)
    static func isAssigned(_ scalar: Unicode.Scalar, by version: (major: Int, minor: Int)) -> Bool {
        guard let age = scalar.properties.age else { return false }
        if age.major != version.major { return age.major < version.major }
        return age.minor <= version.minor
    }
}
