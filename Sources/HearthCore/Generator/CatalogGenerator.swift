import HearthEvents

/// A large deterministic catalog for benchmarks: the generator's restaurants, each with a fixed
/// number of menu items drawn from its cuisine, related cuisines and drinks, with size and style
/// variants ("Large Pepperoni Pizza") so that names repeat as they do across real menus.
public struct CatalogGenerator: Sendable {
    public static let variants = ["", "", "", "Classic", "Large", "Spicy", "Family", "Mini", "Double", "Special", "Homestyle"]

    public var seed: UInt64
    public init(seed: UInt64 = 7) { self.seed = seed }

    /// Restaurants `range` with `itemsPerRestaurant` items each; `body` receives one restaurant and its items at a time.
    public func generate(restaurants range: Range<Int>, itemsPerRestaurant: Int,
                         _ body: (RestaurantUpserted, [MenuItemUpserted]) throws -> Void) rethrows {
        var rng = SplitMix(seed: seed)
        let pool = Vocabulary.cuisines.flatMap(\.dishes) + Vocabulary.drinks
        for i in range {
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
}
