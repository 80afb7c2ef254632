/// How many typos a query word may carry, and what one costs.
///
/// The budget grows with word length: none for short words (1–4 letters), one
/// for 5–8, two for 9 or more. A transposition of neighbouring letters counts
/// as one typo; a wrong first letter counts as two (people rarely mistype the
/// first letter, and allowing it cheaply matches unrelated words: rice/price).
/// Words with digits match exactly.
public struct TypoRules: Sendable, Equatable {
    /// The shortest word allowed one typo, and the shortest allowed two.
    public var oneTypoMinLength = 5
    public var twoTyposMinLength = 9
    /// What a difference in the first letter costs.
    public var firstLetterCost = 2
    /// Whether words containing digits may carry typos.
    public var typosOnNumbers = false

    public init() {}

    /// The typos allowed in a word of `length` letters.
    public func budget(length: Int) -> Int {
        length >= twoTyposMinLength ? 2 : length >= oneTypoMinLength ? 1 : 0
    }

    /// The typos needed to read `query` as `word` (both already normalised), or nil when that is
    /// beyond the budget. The budget comes from the longer of the two words, so a short query word
    /// missing one letter of a longer word ("tika" for "tikka") is still within reach.
    public func cost(query: String, word: String) -> Int? {
        if query == word { return 0 }
        let q = Array(query.unicodeScalars)
        guard allowsTypos(q) else { return nil }
        var scratch = DistanceScratch()
        return cost(q, Array(word.unicodeScalars), &scratch)
    }

    /// `cost(query:word:)` for a query word already known to allow typos, on its scalars (the
    /// vocabulary scans thousands of words per query word: nothing here allocates).
    func cost(_ q: [Unicode.Scalar], _ w: [Unicode.Scalar], _ scratch: inout DistanceScratch) -> Int? {
        if q == w { return 0 }
        let budget = budget(length: max(q.count, w.count))
        guard budget > 0, abs(q.count - w.count) <= budget else { return nil }
        let penalty = q.first == w.first ? 0 : firstLetterCost - 1
        guard penalty < budget else { return nil }
        guard let d = Self.distance(q, w, limit: budget - penalty, prefix: false, &scratch), d + penalty <= budget else { return nil }
        return d + penalty
    }

    /// The typos needed to read `query` as the beginning of `word` (the last word, still being
    /// typed), or nil beyond the budget, which here comes from the query word alone.
    public func prefixCost(query: String, word: String) -> Int? {
        if word.hasPrefix(query) { return 0 }
        let q = Array(query.unicodeScalars)
        guard allowsTypos(q) else { return nil }
        var scratch = DistanceScratch()
        return prefixCost(q, Array(word.unicodeScalars), &scratch)
    }

    /// `prefixCost(query:word:)` for a query word already known to allow typos, on its scalars.
    func prefixCost(_ q: [Unicode.Scalar], _ w: [Unicode.Scalar], _ scratch: inout DistanceScratch) -> Int? {
        if w.starts(with: q) { return 0 }
        let budget = budget(length: q.count)
        guard budget > 0 else { return nil }
        let penalty = q.first == w.first ? 0 : firstLetterCost - 1
        guard penalty < budget else { return nil }
        guard let d = Self.distance(q, w, limit: budget - penalty, prefix: true, &scratch), d + penalty <= budget else { return nil }
        return d + penalty
    }

    func allowsTypos(_ q: [Unicode.Scalar]) -> Bool {
        typosOnNumbers || !q.contains { $0.properties.numericType != nil }
    }

    /// Optimal-string-alignment distance (a transposition counts one) of `a` to `b`, or to the
    /// closest prefix of `b` when `prefix`; nil as soon as it must exceed `limit`.
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int, prefix: Bool) -> Int? {
        var scratch = DistanceScratch()
        return distance(a, b, limit: limit, prefix: prefix, &scratch)
    }

    /// Rows of the distance table, kept between calls.
    struct DistanceScratch {
        var previous2: [Int] = [], previous: [Int] = [], current: [Int] = []
    }

    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int, prefix: Bool, _ s: inout DistanceScratch) -> Int? {
        let n = a.count, m = b.count
        if n == 0 { return prefix ? 0 : (m <= limit ? m : nil) }
        if s.current.count < m + 1 {
            s.previous2 = [Int](repeating: 0, count: m + 1)
            s.previous = [Int](repeating: 0, count: m + 1)
            s.current = [Int](repeating: 0, count: m + 1)
        }
        for j in 0...m { s.previous[j] = j }
        for i in 1...n {
            s.current[0] = i
            var rowMin = i
            if m > 0 {
                for j in 1...m {
                    let substitution = s.previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                    var best = min(s.previous[j] + 1, s.current[j - 1] + 1, substitution)
                    if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                        best = min(best, s.previous2[j - 2] + 1)
                    }
                    s.current[j] = best
                    rowMin = min(rowMin, best)
                }
            }
            if rowMin > limit { return nil }
            swap(&s.previous2, &s.previous)
            swap(&s.previous, &s.current)
        }
        // `previous` now holds the last row: distances of all of `a` to each prefix of `b`.
        let d = prefix ? s.previous[0...m].min()! : s.previous[m]
        return d <= limit ? d : nil
    }
}
