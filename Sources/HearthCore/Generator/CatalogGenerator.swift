import HearthEvents

/// A large deterministic catalog for benchmarks: the generator's restaurants, each with a fixed
/// number of menu items drawn from its cuisine, related cuisines and drinks, with size and style
/// variants ("Large Pepperoni Pizza") so that names repeat as they do across real menus.
public struct CatalogGenerator: Sendable {
    public static let variants = ["", "", "", "Classic", "Large", "Spicy", "Family", "Mini", "Double", "Special", "Homestyle"]

    public var seed: UInt64
    public init(seed: UInt64 = 7) { self.seed = seed }

    /// Restaurants `range` with `itemsPerRestaurant` items each; `body` receives one restaurant and its items at a time.
    /// Restaurant `i` and its items are the same whatever range they are generated in (each restaurant draws from a
    /// generator seeded for it; one generator for the whole range had made them depend on where the range started).
    public func generate(restaurants range: Range<Int>, itemsPerRestaurant: Int,
                         _ body: (RestaurantUpserted, [MenuItemUpserted]) throws -> Void) rethrows {
        let pool = Vocabulary.cuisines.flatMap(\.dishes) + Vocabulary.drinks
        for i in range {
            var rng = SplitMix(seed: seed &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03)
            let (state, city, cuisine) = EventGenerator.makeRestaurant(index: i, rng: &rng)
            var items: [MenuItemUpserted] = []
            for j in 0..<itemsPerRestaurant {
                // Mostly the restaurant's own cuisine, some dishes from anywhere.
                let dish = rng.chance(0.75) ? rng.pick(cuisine.dishes) : rng.pick(pool)
                let variant = rng.pick(Self.variants)
                let raw = Double(dish.cents) * (0.8 + rng.unit() * 0.5) * city.minorPerCent
                let price = max(city.priceStep, Int64((raw / Double(city.priceStep)).rounded()) * city.priceStep)
                items.append(MenuItemUpserted(
                    item_id: "m-\(i + 1)-\(j + 1)", restaurant_id: state.restaurant_id, revision: 1,
                    name: variant.isEmpty ? dish.name : "\(variant) \(dish.name)",
                    description: dish.description, category: dish.category, tags: dish.tags, diet: dish.diet,
                    price_minor: price, currency: city.currency, available: rng.chance(0.97)))
            }
            try body(state, items)
        }
    }

    /// Every dish name the catalog draws from (cuisines' dishes and drinks), each once.
    public static var dishNames: [String] {
        var seen = Set<String>()
        return (Vocabulary.cuisines.flatMap(\.dishes) + Vocabulary.drinks).map(\.name).filter { seen.insert($0).inserted }
    }

    /// A deterministic set of mistyped dish names for measuring typo recall: one typo (deleted,
    /// inserted, substituted or swapped letters, in turn) in a word of five letters or more, never in
    /// its first letter; every other query whose last word has seven letters or more stops two letters
    /// short of its end, as while typing. A
    /// complete query ends with a space. Names with no word that long are left out (no typo is
    /// allowed in shorter words). Returns (query, the dish name lower-cased).
    public static func typoQueries(seed: UInt64 = 11) -> [(query: String, intended: String)] {
        var rng = SplitMix(seed: seed)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        var out: [(String, String)] = []
        for (n, name) in dishNames.enumerated() {
            var words = name.lowercased().split(separator: " ").map { Array($0) }
            let long = words.indices.filter { words[$0].count >= 5 && words[$0].allSatisfy(\.isLetter) }
            guard !long.isEmpty else { continue }
            let w = long[Int(rng.next() % UInt64(long.count))]
            var word = words[w]
            let p = 1 + Int(rng.next() % UInt64(word.count - 2))
            switch n % 4 {
            case 0: word.remove(at: p)
            case 1: word.insert(letters[Int(rng.next() % 26)], at: p)
            case 2:
                var c = letters[Int(rng.next() % 26)]
                while c == word[p] { c = letters[Int(rng.next() % 26)] }
                word[p] = c
            default:
                guard word[p] != word[p + 1] else { word.remove(at: p); break }
                word.swapAt(p, p + 1)
            }
            words[w] = word
            var query = words.map { String($0) }.joined(separator: " ")
            if n % 2 == 1, let last = words.last, last.count >= 7 {
                // Still typing: two letters to go (five or more typed, so a typo there is within budget).
                query = String(query.dropLast(2))
            } else {
                query += " "
            }
            out.append((query, name.lowercased()))
        }
        return out
    }
}
