import Foundation

/// The words of the index with how many documents hold each: what typo, prefix,
/// split and join expansion choose from.
struct Vocabulary: Sendable {
    private(set) var frequency: [String: Int] = [:]
    /// Words by length (in scalars, kept for the typo scan), for typo candidates.
    private var byLength: [Int: [(word: String, scalars: [Unicode.Scalar])]] = [:]
    /// All words sorted, for prefix ranges.
    private var sorted: [String] = []

    init(_ words: [(term: String, frequency: Int)] = []) {
        for (word, freq) in words where Self.isWord(word) {
            frequency[word] = freq
            let scalars = Array(word.unicodeScalars)
            byLength[scalars.count, default: []].append((word, scalars))
        }
        sorted = frequency.keys.sorted()
    }

    /// Free-text words (not filter terms, which start with an upper-case prefix).
    static func isWord(_ term: String) -> Bool {
        guard let first = term.unicodeScalars.first else { return false }
        return !(first.properties.isUppercase) && !term.contains(":")
    }

    var count: Int { frequency.count }

    func contains(_ word: String) -> Bool { frequency[word] != nil }

    /// Words within the typo budget of `word`, with their cost, cheapest and most frequent first.
    func typoCandidates(_ word: String, rules: TypoRules, limit: Int) -> [(word: String, cost: Int)] {
        let q = Array(word.unicodeScalars)
        guard rules.allowsTypos(q) else { return [] }
        let n = q.count
        var scratch = TypoRules.DistanceScratch()
        var out: [(word: String, cost: Int)] = []
        for length in max(1, n - 2)...(n + 2) {
            for candidate in byLength[length] ?? [] where candidate.scalars != q {
                if let cost = rules.cost(q, candidate.scalars, &scratch) { out.append((candidate.word, cost)) }
            }
        }
        out.sort { ($0.cost, -(frequency[$0.word] ?? 0), $0.word) < ($1.cost, -(frequency[$1.word] ?? 0), $1.word) }
        return Array(out.prefix(limit))
    }

    /// Words starting with `prefix`, most frequent first.
    func completions(_ prefix: String, limit: Int) -> [String] {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < prefix { lo = mid + 1 } else { hi = mid }
        }
        var out: [String] = []
        var i = lo
        while i < sorted.count, sorted[i].hasPrefix(prefix) {
            out.append(sorted[i])
            i += 1
        }
        out.sort { (frequency[$0] ?? 0, $1) > (frequency[$1] ?? 0, $0) }
        return Array(out.prefix(limit))
    }

    /// Words that `word` may be a mistyped beginning of (typos by its own length), most frequent first.
    func typoCompletions(_ prefix: String, rules: TypoRules, limit: Int) -> [(word: String, cost: Int)] {
        let q = Array(prefix.unicodeScalars)
        guard rules.budget(length: q.count) > 0, rules.allowsTypos(q) else { return [] }
        var scratch = TypoRules.DistanceScratch()
        var out: [(word: String, cost: Int)] = []
        for (length, words) in byLength where length >= q.count - 2 {
            for w in words where !w.scalars.starts(with: q) {
                if let cost = rules.prefixCost(q, w.scalars, &scratch), cost > 0 { out.append((w.word, cost)) }
            }
        }
        out.sort { ($0.cost, -(frequency[$0.word] ?? 0), $0.word) < ($1.cost, -(frequency[$1.word] ?? 0), $1.word) }
        return Array(out.prefix(limit))
    }
}

/// How one query word (or a pair joined into one) can match: each alternative is a set of
/// terms that must all be present, with the typos it costs.
struct WordPlan: Sendable, Equatable {
    struct Alternative: Sendable, Equatable {
        enum Kind: String, Sendable { case exact, stem, synonym, split, join, prefix, typo }
        var terms: [String]
        var cost: Int
        var kind: Kind
        /// The words shown as the correction (typo alternatives).
        var display: String
    }
    var word: String
    var alternatives: [Alternative]
}

/// Turns a free-text query into per-word alternatives under an index definition's rules.
struct QueryPlanner: Sendable {
    static let maxQueryCharacters = 200
    static let maxWords = 10
    static let maxTypoVariants = 8

    let definition: IndexDefinition
    /// Synonyms by word: every other entry of its groups, each as its words.
    private let synonyms: [String: [[String]]]

    init(definition: IndexDefinition) {
        self.definition = definition
        var map: [String: [[String]]] = [:]
        for group in definition.synonyms {
            for entry in group {
                let others = group.filter { $0 != entry }.map { Self.words($0) }
                map[entry, default: []].append(contentsOf: others)
            }
        }
        synonyms = map
    }

    /// Lower-case words with accents folded, split on anything but letters and digits.
    static func words(_ text: String) -> [String] {
        // Most text is ASCII: lower-case and split it by bytes (Foundation's folding is slow on Linux).
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            var out: [String] = []
            var word: [UInt8] = []
            func flush() {
                if !word.isEmpty { out.append(String(decoding: word, as: UTF8.self)); word.removeAll(keepingCapacity: true) }
            }
            for b in text.utf8 {
                switch b {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): word.append(b + 32)
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): word.append(b)
                default: flush()
                }
            }
            flush()
            return out
        }
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).lowercased()
        return folded.split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    struct Normalised: Sendable {
        var words: [String]
        var warnings: [String]
        /// Whether the text ends inside a word (the last word is still being typed).
        var lastWordOpen: Bool
    }

    /// The words of `text`, truncated to the limits, stop words removed unless nothing else is left.
    func normalise(_ text: String) -> Normalised {
        var warnings: [String] = []
        var text = text
        if text.count > Self.maxQueryCharacters {
            text = String(text.prefix(Self.maxQueryCharacters))
            warnings.append("query_truncated: only the first \(Self.maxQueryCharacters) characters were used")
        }
        var words = Self.words(text)
        if words.count > Self.maxWords {
            words = Array(words.prefix(Self.maxWords))
            warnings.append("query_truncated: only the first \(Self.maxWords) words were used")
        }
        let kept = words.filter { !definition.stopWords.contains($0) }
        let lastWordOpen = text.last.map { $0.isLetter || $0.isNumber } ?? false
        return Normalised(words: kept.isEmpty ? words : kept, warnings: warnings, lastWordOpen: lastWordOpen)
    }

    /// The alternatives of each word. The last word also matches as a prefix while it is open.
    func plan(_ words: [String], lastWordOpen: Bool, vocabulary: Vocabulary) -> [WordPlan] {
        var plans: [WordPlan] = []
        for (i, word) in words.enumerated() {
            let isLast = i == words.count - 1
            var alts: [WordPlan.Alternative] = [.init(terms: [word], cost: 0, kind: .exact, display: word)]
            let stem = "Z" + Stemmer.stem(word)
            alts.append(.init(terms: [stem], cost: 0, kind: .stem, display: word))
            for synonym in synonyms[word] ?? [] {
                alts.append(.init(terms: synonym, cost: 0, kind: .synonym, display: synonym.joined(separator: " ")))
            }
            if !vocabulary.contains(word), let split = Self.split(word, vocabulary) {
                alts.append(.init(terms: split, cost: 0, kind: .split, display: split.joined(separator: " ")))
            }
            if isLast, lastWordOpen, definition.prefixLastWord {
                for w in vocabulary.completions(word, limit: definition.maxPrefixExpansions) where w != word {
                    alts.append(.init(terms: [w], cost: 0, kind: .prefix, display: w))
                }
                for (w, cost) in vocabulary.typoCompletions(word, rules: definition.typo, limit: Self.maxTypoVariants) {
                    alts.append(.init(terms: [w], cost: cost, kind: .prefix, display: w))
                }
            }
            for (w, cost) in vocabulary.typoCandidates(word, rules: definition.typo, limit: Self.maxTypoVariants)
            where !alts.contains(where: { $0.terms == [w] }) {
                alts.append(.init(terms: [w], cost: cost, kind: .typo, display: w))
            }
            plans.append(WordPlan(word: word, alternatives: alts))
        }
        return plans
    }

    /// Adjacent words written together in the index ("garlic bread" → "garlicbread"), as index pairs.
    static func joins(_ words: [String], _ vocabulary: Vocabulary) -> [(Int, String)] {
        guard words.count > 1 else { return [] }
        return (0..<(words.count - 1)).compactMap { i in
            let joined = words[i] + words[i + 1]
            return vocabulary.contains(joined) ? (i, joined) : nil
        }
    }

    /// `word` as two indexed words written together ("garlicbread" → garlic, bread), preferring the
    /// most frequent pair.
    static func split(_ word: String, _ vocabulary: Vocabulary) -> [String]? {
        let chars = Array(word)
        guard chars.count >= 4 else { return nil }
        var best: ([String], Int)?
        for cut in 2...(chars.count - 2) {
            let a = String(chars[..<cut]), b = String(chars[cut...])
            guard let fa = vocabulary.frequency[a], let fb = vocabulary.frequency[b] else { continue }
            let score = min(fa, fb)
            if best == nil || score > best!.1 { best = ([a, b], score) }
        }
        return best?.0
    }
}

/// How search splits text into words (lower-case, accents folded), for tools that must match it.
public enum QueryWords {
    public static func words(_ text: String) -> [String] { QueryPlanner.words(text) }
}
