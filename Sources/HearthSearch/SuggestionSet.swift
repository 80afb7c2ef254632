/// The suggestions of one index commit, in memory. Every keystroke completes against them without a
/// Xapian query: a completion like "p" had read fifty words' posting lists and every match's values
/// through Xapian, most of a suggestion request's time. They are few (a dish name, restaurant name or
/// cuisine once per city), so a reader builds the set again whenever a commit changed them.
final class SuggestionSet: Sendable {
    struct Entry: Sendable {
        let suggestion: Suggestion
        /// Its identity across cities (`Suggestion.key`), numbered: entries with one key share it.
        let key: Int32
        /// Its city as filters normalise it (nil: dishes of restaurants not yet known).
        let city: String?
    }

    let entries: [Entry]
    /// How many distinct keys the entries have (`Entry.key` is below it).
    let keyCount: Int
    /// A word, or "Z" + its stem for words that begin with a letter (as Xapian's term generator
    /// writes them) → the entries holding it, ascending.
    private let postings: [String: [Int32]]
    /// The words of suggestions, with how many suggestions hold each.
    let vocabulary: Vocabulary
    /// `SearchSchema.suggestionsRevisionKey` at the commit it was read from.
    let revision: String

    /// Reads every suggestion of `db`'s commit. The index is read first and in one pass, so that the
    /// window in which the writer can discard the commit under it stays short.
    init(_ db: XapianDatabase, revision: String) throws {
        var stored: [[UInt8]] = []
        try db.documents(withTerm: SearchSchema.suggestionType, dataFirst: true) { _, data in stored.append(Array(data)) }
        var entries: [Entry] = []
        var postings: [String: [Int32]] = [:]
        var stems: [String: String] = [:]
        var keys: [String: Int32] = [:]
        for data in stored {
            guard let s = Suggestion(stored: data) else { continue }
            let index = Int32(entries.count)
            let words = QueryPlanner.words(s.text)
            let key = Suggestion.key(words: words)
            let number = keys[key] ?? Int32(keys.count)
            keys[key] = number
            entries.append(Entry(suggestion: s, key: number, city: s.city.map(SearchSchema.normal)))
            var terms: Set<String> = []
            for word in words {
                terms.insert(word)
                guard word.first?.isLetter == true else { continue }
                if stems[word] == nil { stems[word] = "Z" + Stemmer.stem(word) }
                terms.insert(stems[word]!)
            }
            for term in terms { postings[term, default: []].append(index) }
        }
        self.entries = entries
        keyCount = keys.count
        self.postings = postings
        vocabulary = Vocabulary(postings.compactMap { $0.key.hasPrefix("Z") ? nil : (term: $0.key, frequency: $0.value.count) })
        self.revision = revision
    }

    /// The entries matching every word by one of its alternatives costing at most `maxCost` typos
    /// (as `SearchIndex.textQuery` matches documents); every entry when there are no words.
    func matching(_ plans: [WordPlan], joins: [(Int, String)], maxCost: Int) -> EntrySet {
        guard !plans.isEmpty else { return EntrySet(count: entries.count, all: true) }
        var parts: [EntrySet] = plans.map { plan in
            var out = EntrySet(count: entries.count)
            for alternative in SearchIndex.alternatives(plan, maxCost: maxCost) { addHoldingAll(alternative.terms, to: &out) }
            return out
        }
        // "garlic bread" also finds "garlicbread": the pair may match the joined word instead.
        for (i, joined) in joins.reversed() where i + 1 < parts.count {
            var pair = parts[i]
            pair.formIntersection(parts[i + 1])
            for id in postings[joined] ?? [] { pair.insert(id) }
            parts.replaceSubrange(i...(i + 1), with: [pair])
        }
        var out = parts[0]
        for part in parts.dropFirst() { out.formIntersection(part) }
        return out
    }

    /// Adds the entries holding every one of `terms` to `out`.
    private func addHoldingAll(_ terms: [String], to out: inout EntrySet) {
        guard let first = terms.first, let firstPostings = postings[first] else { return }
        guard terms.count > 1 else {
            for id in firstPostings { out.insert(id) }
            return
        }
        var all = EntrySet(count: entries.count)
        for id in firstPostings { all.insert(id) }
        for term in terms.dropFirst() {
            var next = EntrySet(count: entries.count)
            for id in postings[term] ?? [] { next.insert(id) }
            all.formIntersection(next)
        }
        out.formUnion(all)
    }
}

/// A set of suggestion entries as bits, one per entry: the unions and intersections of a keystroke's
/// word alternatives are word-wide operations, and members come out in ascending order.
struct EntrySet: Sequence {
    private var words: [UInt64]

    init(count: Int, all: Bool = false) {
        words = [UInt64](repeating: all ? ~0 : 0, count: (count + 63) / 64)
        if all, count % 64 != 0 { words[words.count - 1] = (1 << UInt64(count % 64)) - 1 }
    }

    mutating func insert(_ member: Int32) {
        words[Int(member) >> 6] |= 1 << UInt64(member & 63)
    }

    mutating func formUnion(_ other: EntrySet) {
        for i in words.indices { words[i] |= other.words[i] }
    }

    mutating func formIntersection(_ other: EntrySet) {
        for i in words.indices { words[i] &= other.words[i] }
    }

    func subtracting(_ other: EntrySet) -> EntrySet {
        var out = self
        for i in out.words.indices { out.words[i] &= ~other.words[i] }
        return out
    }

    func makeIterator() -> Iterator { Iterator(words: words) }

    struct Iterator: IteratorProtocol {
        let words: [UInt64]
        var index = 0
        var current: UInt64

        init(words: [UInt64]) {
            self.words = words
            current = words.first ?? 0
        }

        mutating func next() -> Int32? {
            while current == 0 {
                index += 1
                guard index < words.count else { return nil }
                current = words[index]
            }
            let bit = current.trailingZeroBitCount
            current &= current - 1
            return Int32(index * 64 + bit)
        }
    }
}
