// The few Python `str` operations the SQuAD normalisation is written with, by code point, so that answers
// normalise as the official scripts normalise them: `str.lower()` (full case mapping and the final-sigma
// rule), `str.isspace()` (what `str.split()` splits on) and `re`'s Unicode `\w`.

enum PythonText {
    /// `s.lower()`: each code point's full lower-case mapping (`İ` becomes `i̇`), and capital sigma as
    /// final `ς` when a cased letter precedes it and none follows (case-ignorable code points skipped),
    /// as CPython's `handle_capital_sigma`.
    static func lower(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for (i, s) in scalars.enumerated() {
            if s == "\u{03A3}" {
                out.append(isFinalSigma(scalars, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else if s.isASCII {
                out.append(s.properties.isUppercase ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    private static func isFinalSigma(_ scalars: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && scalars[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && scalars[j].properties.isCased else { return false }
        j = i + 1
        while j < scalars.count && scalars[j].properties.isCaseIgnorable { j += 1 }
        return j == scalars.count || !scalars[j].properties.isCased
    }

    /// `str.isspace()` of one code point: Unicode White_Space plus U+001C–U+001F, which CPython also
    /// counts (their bidirectional class is B or S).
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }

    /// `re`'s `\w` for `str` patterns: `str.isalnum()` (a letter, Lu Ll Lt Lm Lo, or a code point with a
    /// numeric value) or `_`. Combining marks are not word characters.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        if s == "_" { return true }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return s.properties.numericType != nil
        }
    }

    /// `s.split()`: the runs of non-space code points.
    static func split(_ scalars: [Unicode.Scalar]) -> [String] {
        var words: [String] = [], current = String.UnicodeScalarView()
        for s in scalars {
            if isSpace(s) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }
}
