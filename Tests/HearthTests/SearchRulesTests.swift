import Foundation
@testable import HearthSearch
import HearthSupport
import Testing

/// The typo rules of search, and the index definitions that configure them.
@Suite struct SearchRulesTests {
    let rules = TypoRules()

    /// Suggestion entry sets: members come out ascending, "all" stops at the count, and the set
    /// operations keep exactly what they should across word boundaries.
    @Test func entrySetsHoldExactlyTheirMembers() {
        #expect(Array(EntrySet(count: 70, all: true)) == (0..<70).map(Int32.init))
        #expect(Array(EntrySet(count: 64, all: true)).count == 64)
        var a = EntrySet(count: 200), b = EntrySet(count: 200)
        for m: Int32 in [199, 0, 63, 64, 130] { a.insert(m) }
        for m: Int32 in [63, 64, 65, 199] { b.insert(m) }
        #expect(Array(a) == [0, 63, 64, 130, 199])
        var i = a
        i.formIntersection(b)
        #expect(Array(i) == [63, 64, 199])
        var u = a
        u.formUnion(b)
        #expect(Array(u) == [0, 63, 64, 65, 130, 199])
        #expect(Array(a.subtracting(b)) == [0, 130])
        #expect(Array(EntrySet(count: 0)).isEmpty)
    }

    @Test func filterValuesAreNormalizedAsFoundationTrimsThem() {
        let values = ["Pizza", " Pizza", "Pizza ", "\tVegan\t", "", " ", "São Paulo", "\u{00A0}Chaat\u{00A0}", "Ramen\u{3000}",
                      "\u{2003}Dim Sum", "Crème brûlée", "é", "K", "Ⅻ", "İstanbul", "New  York"]
        for v in values {
            #expect(SearchSchema.normal(v) == v.lowercased().trimmingCharacters(in: .whitespaces), "\(v.debugDescription)")
        }
    }

    @Test func theBudgetGrowsWithWordLength() {
        #expect((1...4).allSatisfy { rules.budget(length: $0) == 0 })
        #expect((5...8).allSatisfy { rules.budget(length: $0) == 1 })
        #expect([9, 12, 30].allSatisfy { rules.budget(length: $0) == 2 })
        // Short words match exactly only: "cake" is not "coke", "bun" is not "bum".
        #expect(rules.cost(query: "cake", word: "coke") == nil)
        #expect(rules.cost(query: "bun", word: "bum") == nil)
        #expect(rules.cost(query: "cake", word: "cake") == 0)
        // Five to eight letters: one typo, not two.
        #expect(rules.cost(query: "chiken", word: "chicken") == 1)
        #expect(rules.cost(query: "chikn", word: "chicken") == nil)
        // Nine or more: two.
        #expect(rules.cost(query: "margarita", word: "margherita") == 2)
        #expect(rules.cost(query: "peperoni", word: "pepperoni") == 1)
        #expect(rules.cost(query: "peproni", word: "pepperoni") == 2)
        #expect(rules.cost(query: "pprni", word: "pepperoni") == nil)
    }

    @Test func aTranspositionCountsAsOneTypo() {
        #expect(rules.cost(query: "ckicken", word: "chicken") == 1)
        #expect(rules.cost(query: "chikcen", word: "chicken") == 1)
        #expect(rules.cost(query: "birynai", word: "biryani") == 1)
    }

    @Test func aWrongFirstLetterCostsTwo() {
        #expect(rules.cost(query: "xhicken", word: "chicken") == nil, "7 letters allow one typo; a first-letter one costs two")
        #expect(rules.cost(query: "rice", word: "price") == nil)
        #expect(rules.cost(query: "nargherita", word: "margherita") == 2)
        #expect(rules.cost(query: "nargherit", word: "margherita") == nil, "first letter (2) plus one more is over two")
    }

    @Test func wordsWithDigitsMatchExactly() {
        #expect(rules.cost(query: "7up", word: "1up") == nil)
        #expect(rules.cost(query: "pizza12", word: "pizza13") == nil)
        var lenient = TypoRules()
        lenient.typosOnNumbers = true
        #expect(lenient.cost(query: "pizza12", word: "pizza13") == 1)
    }

    @Test func theLastWordMatchesAsAPrefixWithTyposByItsOwnLength() {
        #expect(rules.prefixCost(query: "piz", word: "pizza") == 0)
        #expect(rules.prefixCost(query: "pix", word: "pizza") == nil, "3 letters: exact prefixes only")
        #expect(rules.prefixCost(query: "pepero", word: "pepperoni") == 1)
        #expect(rules.prefixCost(query: "margari", word: "margherita") == nil, "7 letters allow one typo")
        #expect(rules.prefixCost(query: "marghe", word: "margherita") == 0)
        // A short last word that is a whole word missing a letter is found as a word: "chiken tika".
        #expect(rules.cost(query: "tika", word: "tikka") == 1)
    }

    @Test func theRepositoryIndexDefinitionsAreValid() throws {
        let all = try IndexDefinition.loadAll(from: TestPaths.indexes)
        #expect(all.map(\.name) == ["menu_items", "restaurants"])
        let items = try #require(all.first { $0.entity == .item })
        #expect(items.fields["name"]! > items.fields["category"]! && items.fields["category"]! > items.fields["description"]!)
        #expect(items.synonyms.contains(["coke", "coca cola"]) && items.stopWords.contains("the"))
        #expect(items.typo == TypoRules())
        #expect(items.facets.contains("price_band") && !items.priceBandsMinor.isEmpty)
    }

    @Test func badIndexDefinitionsNameFileLineAndKey() {
        func error(_ yaml: String) -> String? {
            do { _ = try IndexDefinition(file: "i.yaml", yaml: yaml); return nil } catch { return error.description }
        }
        let base = "name: i\nentity: item\nfields:\n  name: {weight: 10}\n"
        #expect(error(base) == nil)
        #expect(error("name: i\nentity: dish\nfields: {name: {weight: 1}}\n") == "i.yaml:2: entity: must be one of: restaurant, item")
        #expect(error(base + "filters: [open_now]\n")?.hasPrefix("i.yaml:5: filters: \"open_now\" is not available for an item") == true)
        #expect(error(base + "typo: {one_typo_min_length: 6, two_typos_min_length: 5}\n")
                == "i.yaml:5: typo.two_typos_min_length: must be greater than one_typo_min_length")
        #expect(error(base + "synonyms: [[coke]]\n") == "i.yaml:5: synonyms: each group needs at least two different entries")
        #expect(error(base + "facets: [price_band]\n") == "i.yaml:1: price_bands_minor: is required when facets include price_band")
        #expect(error(base + "colour: red\n") == "i.yaml:5: colour: unknown key")
        #expect(error("name: i\nentity: item\n")?.contains("fields: is required") == true)
    }

    /// Text is split into lower-case words the same way whether or not it is ASCII (ASCII takes a
    /// faster path), and highlights escape everything but the marks.
    @Test func wordsAndHighlightsOfASCIIAndOtherText() {
        #expect(QueryWords.words("Chicken-Tikka 2x, 7UP!") == ["chicken", "tikka", "2x", "7up"])
        #expect(QueryWords.words("Crème Brûlée & CHIPS") == ["creme", "brulee", "chips"])
        let matched: (words: Set<String>, stems: Set<String>) = (["chips", "creme"], [])
        #expect(SearchIndex.highlight("Fish & Chips <b>\"x\"", matched) == "Fish &amp; <mark>Chips</mark> &lt;b&gt;&quot;x&quot;")
        #expect(SearchIndex.highlight("Crème & Chips <b>", matched) == "<mark>Crème</mark> &amp; <mark>Chips</mark> &lt;b&gt;")
        #expect(SearchIndex.highlight("Chip", (["chips"], [])) == "Chip")
    }
}
