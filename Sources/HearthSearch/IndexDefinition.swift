import Foundation
import HearthSupport

/// One search index, from `Indexes/<name>.yaml`: which catalog entity it holds, the
/// searchable fields and their weights, filters, sort keys, facets, typo rules,
/// synonyms and stop words.
public struct IndexDefinition: Sendable, Equatable {
    public enum Entity: String, Sendable, CaseIterable {
        case restaurant, item
        var article: String { self == .item ? "an item" : "a restaurant" }
    }

    public var name: String
    public var description: String
    public var entity: Entity
    /// Searchable fields by name, with the weight of a match in each (higher ranks higher).
    public var fields: [String: Int]
    public var filters: [String]
    public var sorts: [String]
    public var facets: [String]
    /// Upper bounds (minor units) of the price bands counted as a facet; the last band is open.
    public var priceBandsMinor: [Int]
    public var typo: TypoRules
    /// Whether the last query word also matches as a prefix (it is still being typed), and how many
    /// indexed words one prefix may expand to at most.
    public var prefixLastWord: Bool
    public var maxPrefixExpansions: Int
    /// Groups of words and phrases that mean the same ("coke", "coca cola").
    public var synonyms: [[String]]
    public var stopWords: Set<String>
    /// How much recent orders lift a match: the weight added is this times log(1 + orders in the
    /// popularity window), beside the text match's weight (0: popularity does not rank).
    public var popularityWeight: Double

    /// What each entity offers: searchable text, filters, sort keys and facets.
    public static let searchable: [Entity: Set<String>] = [
        .restaurant: ["name", "cuisines", "city", "address"],
        .item: ["name", "category", "tags", "description", "diet", "restaurant_name", "cuisines"],
    ]
    public static let filterable: [Entity: Set<String>] = [
        .restaurant: ["city", "cuisine", "status", "rating", "location", "open_now"],
        .item: ["restaurant_id", "city", "category", "diet", "tags", "price_minor", "available", "location"],
    ]
    public static let sortable: [Entity: Set<String>] = [
        .restaurant: ["relevance", "distance", "rating", "popularity"],
        .item: ["relevance"],
    ]
    public static let facetable: [Entity: Set<String>] = [
        .restaurant: ["cuisine", "city", "price_level"],
        .item: ["category", "diet", "city", "cuisine", "price_band"],
    ]

    /// Reads and validates one definition.
    public init(file: String, yaml: String) throws(ConfigError) {
        let map = try ConfigMap(file: file, yaml: yaml)
        name = try map.requiredString("name")
        guard name.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw map.error("name", "must be lower-case letters, digits or _, starting with a letter")
        }
        description = try map.string("description", default: "")
        let entityName = try map.requiredString("entity")
        guard let entity = Entity(rawValue: entityName) else {
            throw map.error("entity", "must be one of: \(Entity.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.entity = entity

        let fieldMap = try map.map("fields")
        var fields: [String: Int] = [:]
        for key in fieldMap.keys {
            guard Self.searchable[entity]!.contains(key) else {
                throw fieldMap.error(key, "is not a searchable field of \(entity.article) (known: \(Self.searchable[entity]!.sorted().joined(separator: ", ")))")
            }
            let field = try fieldMap.map(key)
            fields[key] = try field.int("weight", default: 1, range: 1...100)
            try field.finish()
        }
        try fieldMap.finish()
        guard !fields.isEmpty else { throw map.error("fields", "is required: at least one searchable field") }
        self.fields = fields

        filters = try Self.names(map, "filters", allowed: Self.filterable[entity]!, entity)
        sorts = try Self.names(map, "sort", allowed: Self.sortable[entity]!, entity)
        if sorts.isEmpty { sorts = ["relevance"] }
        facets = try Self.names(map, "facets", allowed: Self.facetable[entity]!, entity)
        var bands: [Int] = []
        for text in try map.strings("price_bands_minor") ?? [] {
            guard let n = Int(text), n > 0 else { throw map.error("price_bands_minor", "\"\(text)\" is not a positive whole number") }
            guard n > (bands.last ?? 0) else { throw map.error("price_bands_minor", "must be increasing") }
            bands.append(n)
        }
        if facets.contains("price_band"), bands.isEmpty {
            throw map.error("price_bands_minor", "is required when facets include price_band")
        }
        priceBandsMinor = bands

        let typoMap = try map.map("typo")
        var typo = TypoRules()
        typo.oneTypoMinLength = try typoMap.int("one_typo_min_length", default: 5, range: 1...64)
        typo.twoTyposMinLength = try typoMap.int("two_typos_min_length", default: 9, range: 1...64)
        typo.firstLetterCost = try typoMap.int("first_letter_cost", default: 2, range: 1...3)
        typo.typosOnNumbers = try typoMap.bool("typos_on_numbers", default: false)
        try typoMap.finish()
        guard typo.twoTyposMinLength > typo.oneTypoMinLength else {
            throw typoMap.error("two_typos_min_length", "must be greater than one_typo_min_length")
        }
        self.typo = typo

        let prefix = try map.map("prefix")
        prefixLastWord = try prefix.bool("last_word", default: true)
        maxPrefixExpansions = try prefix.int("max_expansions", default: 50, range: 1...1000)
        try prefix.finish()

        synonyms = try Self.synonymGroups(map)
        stopWords = Set((try map.strings("stop_words") ?? []).map { $0.lowercased() })
        let ranking = try map.map("ranking")
        popularityWeight = try ranking.double("popularity_weight", default: 0.3)
        guard (0...10).contains(popularityWeight) else { throw ranking.error("popularity_weight", "must be between 0 and 10") }
        try ranking.finish()
        try map.finish()
    }

    /// Every synonym group: a list of lists of words or phrases, each group at least two long.
    private static func synonymGroups(_ map: ConfigMap) throws(ConfigError) -> [[String]] {
        let text = try map.stringLists("synonyms")
        var out: [[String]] = []
        for group in text {
            let cleaned = group.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard Set(cleaned).count >= 2 else { throw map.error("synonyms", "each group needs at least two different entries") }
            out.append(cleaned)
        }
        return out
    }

    private static func names(_ map: ConfigMap, _ key: String, allowed: Set<String>, _ entity: Entity) throws(ConfigError) -> [String] {
        let list = try map.strings(key) ?? []
        for item in list where !allowed.contains(item) {
            throw map.error(key, "\"\(item)\" is not available for \(entity.article) (known: \(allowed.sorted().joined(separator: ", ")))")
        }
        guard Set(list).count == list.count else { throw map.error(key, "lists an entry twice") }
        return list
    }

    /// Loads every `*.yaml` in `directory`; names must be unique.
    public static func loadAll(from directory: URL) throws(ConfigError) -> [IndexDefinition] {
        try DefinitionDirectory.load(directory, kind: "index definitions", parse: { (file, yaml) throws(ConfigError) in
            try IndexDefinition(file: file, yaml: yaml)
        }, name: \.name)
    }
}
