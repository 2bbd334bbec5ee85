/// How alike two answers to the same request are, for judging a shadow version against the primary.
///
/// Similarity is the Sørensen–Dice coefficient over the answers' token multisets: tokens are runs
/// of letters and digits, lower-cased; the score is 2 × shared tokens ÷ (tokens of one + tokens of
/// the other), 1 for identical wording in any order and 0 for nothing in common. Two empty answers
/// agree fully. An exact match is the same text after trimming surrounding white space.
package enum AnswerAgreement {
    package static func isExactMatch(_ first: String, _ second: String) -> Bool {
        trimmed(first) == trimmed(second)
    }

    package static func similarity(_ first: String, _ second: String) -> Double {
        let firstTokens = tokens(first)
        let secondTokens = tokens(second)
        let total = firstTokens.count + secondTokens.count
        guard total > 0 else { return 1 }
        var counts: [String: Int] = [:]
        for token in firstTokens { counts[token, default: 0] += 1 }
        var shared = 0
        for token in secondTokens {
            guard let count = counts[token], count > 0 else { continue }
            counts[token] = count - 1
            shared += 1
        }
        return Double(2 * shared) / Double(total)
    }

    /// Lower-cased runs of letters and digits.
    package static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            if character.isLetter || character.isNumber {
                current.append(contentsOf: character.lowercased())
            } else if !current.isEmpty {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    private static func trimmed(_ text: String) -> Substring {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        return text[start..<max(start, end)]
    }
}
