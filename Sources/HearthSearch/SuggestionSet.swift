/// The suggestions of one index commit, in memory. Every keystroke completes against them without a
/// Xapian query: a completion like "p" had read fifty words' posting lists and every match's values
/// through Xapian, most of a suggestion request's time. They are few (a dish name, restaurant name or
/// cuisine once per city), so a reader builds the set again whenever a commit changed them.
final class SuggestionSet: Sendable {
    struct Entry: Sendable {
        let suggestion: Suggestion
        /// Its identity across cities (`Suggestion.key`).
        let key: String
        /// Its city as filters normalise it (nil: dishes of restaurants not yet known).
        let city: String?
    }

    let entries: [Entry]
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
        try db.documents(withTerm: SearchSchema.suggestionType) { _, data in stored.append(Array(data)) }
        var entries: [Entry] = []
        var postings: [String: [Int32]] = [:]
        var stems: [String: String] = [:]
        for data in stored {
            guard let s = Suggestion(stored: data) else { continue }
            let index = Int32(entries.count)
            let words = QueryPlanner.words(s.text)
            entries.append(Entry(suggestion: s, key: Suggestion.key(words: words), city: s.city.map(SearchSchema.normal)))
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
        self.postings = postings
        vocabulary = Vocabulary(postings.compactMap { $0.key.hasPrefix("Z") ? nil : (term: $0.key, frequency: $0.value.count) })
        self.revision = revision
    }

    /// The entries matching every word by one of its alternatives costing at most `maxCost` typos
    /// (as `SearchIndex.textQuery` matches documents); every entry when there are no words.
    func matching(_ plans: [WordPlan], joins: [(Int, String)], maxCost: Int) -> Set<Int32> {
        guard !plans.isEmpty else { return Set(entries.indices.map(Int32.init)) }
        var parts: [Set<Int32>] = plans.map { plan in
            var out: Set<Int32> = []
            for alternative in SearchIndex.alternatives(plan, maxCost: maxCost) { out.formUnion(holdingAll(alternative.terms)) }
            return out
        }
        // "garlic bread" also finds "garlicbread": the pair may match the joined word instead.
        for (i, joined) in joins.reversed() where i + 1 < parts.count {
            parts.replaceSubrange(i...(i + 1), with: [parts[i].intersection(parts[i + 1]).union(postings[joined] ?? [])])
        }
        return parts.dropFirst().reduce(parts[0]) { $0.intersection($1) }
    }

    /// The entries holding every one of `terms`.
    private func holdingAll(_ terms: [String]) -> Set<Int32> {
        guard let first = terms.first else { return [] }
        var out = Set(postings[first] ?? [])
        for term in terms.dropFirst() where !out.isEmpty { out.formIntersection(postings[term] ?? []) }
        return out
    }
}
