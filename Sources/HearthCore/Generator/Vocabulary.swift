/// The generator's real-world vocabulary: cities across time zones and currencies, and dishes across cuisines.
enum Vocabulary {
    struct City: Sendable {
        let name, country, timezone, currency: String
        let lat, lng: Double
        /// Minor units of the currency per US cent, for pricing dishes.
        let minorPerCent: Double
        /// Round prices to this many minor units.
        let priceStep: Int64
        let weight: Double
    }

    static let cities: [City] = [
        City(name: "Mumbai", country: "IN", timezone: "Asia/Kolkata", currency: "INR", lat: 19.0760, lng: 72.8777, minorPerCent: 83, priceStep: 1000, weight: 3),
        City(name: "Delhi", country: "IN", timezone: "Asia/Kolkata", currency: "INR", lat: 28.6139, lng: 77.2090, minorPerCent: 83, priceStep: 1000, weight: 3),
        City(name: "Bengaluru", country: "IN", timezone: "Asia/Kolkata", currency: "INR", lat: 12.9716, lng: 77.5946, minorPerCent: 83, priceStep: 1000, weight: 2.5),
        City(name: "Kathmandu", country: "NP", timezone: "Asia/Kathmandu", currency: "NPR", lat: 27.7172, lng: 85.3240, minorPerCent: 133, priceStep: 1000, weight: 1),
        City(name: "London", country: "GB", timezone: "Europe/London", currency: "GBP", lat: 51.5074, lng: -0.1278, minorPerCent: 0.79, priceStep: 10, weight: 2),
        City(name: "New York", country: "US", timezone: "America/New_York", currency: "USD", lat: 40.7128, lng: -74.0060, minorPerCent: 1, priceStep: 25, weight: 2),
        City(name: "Berlin", country: "DE", timezone: "Europe/Berlin", currency: "EUR", lat: 52.5200, lng: 13.4050, minorPerCent: 0.92, priceStep: 10, weight: 1.5),
        City(name: "Tokyo", country: "JP", timezone: "Asia/Tokyo", currency: "JPY", lat: 35.6762, lng: 139.6503, minorPerCent: 1.5, priceStep: 10, weight: 1.5),
        City(name: "Sydney", country: "AU", timezone: "Australia/Sydney", currency: "AUD", lat: -33.8688, lng: 151.2093, minorPerCent: 1.5, priceStep: 10, weight: 1),
        City(name: "São Paulo", country: "BR", timezone: "America/Sao_Paulo", currency: "BRL", lat: -23.5505, lng: -46.6333, minorPerCent: 5, priceStep: 50, weight: 1.5),
        City(name: "Dubai", country: "AE", timezone: "Asia/Dubai", currency: "AED", lat: 25.2048, lng: 55.2708, minorPerCent: 3.67, priceStep: 50, weight: 1),
        City(name: "Singapore", country: "SG", timezone: "Asia/Singapore", currency: "SGD", lat: 1.3521, lng: 103.8198, minorPerCent: 1.35, priceStep: 10, weight: 1),
    ]

    struct Dish: Sendable {
        let name, category, diet, description: String
        /// Typical price in US cents.
        let cents: Int
        let tags: [String]
    }

    struct Cuisine: Sendable {
        let name: String
        let related: [String]
        let nameParts: ([String], [String])
        let dishes: [Dish]
    }

    static let cuisines: [Cuisine] = [
        Cuisine(name: "indian", related: ["north indian", "curry"], nameParts: (["Spice", "Tandoor", "Masala", "Royal", "Saffron"], ["House", "Kitchen", "Junction", "Palace", "Darbar"]), dishes: [
            Dish(name: "Chicken Tikka Masala", category: "curry", diet: "non_veg", description: "Chargrilled chicken in a creamy spiced tomato gravy", cents: 1100, tags: ["bestseller"]),
            Dish(name: "Butter Chicken", category: "curry", diet: "non_veg", description: "Tandoori chicken simmered in butter, cream and tomato", cents: 1150, tags: ["bestseller"]),
            Dish(name: "Paneer Tikka", category: "starter", diet: "veg", description: "Cottage cheese cubes marinated in yoghurt and grilled", cents: 850, tags: ["spicy"]),
            Dish(name: "Dal Makhani", category: "curry", diet: "veg", description: "Black lentils slow cooked with butter and cream", cents: 750, tags: []),
            Dish(name: "Chicken Biryani", category: "rice", diet: "non_veg", description: "Basmati rice layered with spiced chicken and saffron", cents: 1050, tags: ["bestseller", "spicy"]),
            Dish(name: "Masala Dosa", category: "breakfast", diet: "veg", description: "Crisp rice crepe filled with spiced potato", cents: 550, tags: []),
            Dish(name: "Chole Bhature", category: "main", diet: "veg", description: "Spiced chickpeas with fried leavened bread", cents: 600, tags: []),
            Dish(name: "Palak Paneer", category: "curry", diet: "veg", description: "Cottage cheese in a smooth spinach gravy", cents: 800, tags: []),
            Dish(name: "Garlic Naan", category: "bread", diet: "veg", description: "Leavened bread with garlic and butter from the tandoor", cents: 250, tags: []),
            Dish(name: "Veg Samosa", category: "starter", diet: "vegan", description: "Pastry filled with spiced potato and peas", cents: 300, tags: []),
            Dish(name: "Gulab Jamun", category: "dessert", diet: "veg", description: "Milk dumplings in rose syrup", cents: 350, tags: []),
            Dish(name: "Mango Lassi", category: "drinks", diet: "veg", description: "Yoghurt drink with Alphonso mango", cents: 300, tags: []),
        ]),
        Cuisine(name: "italian", related: ["pizza", "pasta"], nameParts: (["Slice of", "Casa", "Trattoria", "Bella", "Piccolo"], ["Napoli", "Roma", "Toscana", "Milano", "Sicilia"]), dishes: [
            Dish(name: "Margherita Pizza", category: "pizza", diet: "veg", description: "Tomato, fior di latte mozzarella and basil", cents: 1000, tags: ["bestseller"]),
            Dish(name: "Pepperoni Pizza", category: "pizza", diet: "non_veg", description: "Spicy pepperoni, mozzarella and oregano", cents: 1250, tags: ["bestseller", "spicy"]),
            Dish(name: "Quattro Formaggi Pizza", category: "pizza", diet: "veg", description: "Mozzarella, gorgonzola, parmesan and fontina", cents: 1300, tags: []),
            Dish(name: "Spaghetti Carbonara", category: "pasta", diet: "non_veg", description: "Guanciale, egg yolk, pecorino and black pepper", cents: 1200, tags: []),
            Dish(name: "Penne Arrabbiata", category: "pasta", diet: "vegan", description: "Penne in a fiery tomato and garlic sauce", cents: 1000, tags: ["spicy"]),
            Dish(name: "Lasagne", category: "pasta", diet: "non_veg", description: "Layers of pasta, beef ragu and bechamel", cents: 1350, tags: []),
            Dish(name: "Fettuccine Alfredo", category: "pasta", diet: "veg", description: "Ribbon pasta in butter and parmesan", cents: 1100, tags: []),
            Dish(name: "Risotto ai Funghi", category: "rice", diet: "veg", description: "Arborio rice with porcini mushrooms", cents: 1400, tags: []),
            Dish(name: "Garlic Bread", category: "starter", diet: "veg", description: "Toasted bread with garlic butter and herbs", cents: 500, tags: []),
            Dish(name: "Bruschetta", category: "starter", diet: "vegan", description: "Grilled bread with tomato, basil and olive oil", cents: 650, tags: []),
            Dish(name: "Tiramisu", category: "dessert", diet: "veg", description: "Mascarpone, espresso-soaked savoiardi and cocoa", cents: 700, tags: []),
        ]),
        Cuisine(name: "japanese", related: ["sushi", "ramen"], nameParts: (["Tokyo", "Sakura", "Umami", "Kyoto", "Zen"], ["Table", "Sushi Bar", "Ramen House", "Kitchen", "Izakaya"]), dishes: [
            Dish(name: "Salmon Nigiri", category: "sushi", diet: "non_veg", description: "Hand-pressed rice topped with fresh salmon", cents: 900, tags: []),
            Dish(name: "California Roll", category: "sushi", diet: "non_veg", description: "Crab, avocado and cucumber inside-out roll", cents: 950, tags: ["bestseller"]),
            Dish(name: "Tonkotsu Ramen", category: "ramen", diet: "non_veg", description: "Rich pork bone broth, chashu, egg and noodles", cents: 1500, tags: ["bestseller"]),
            Dish(name: "Chicken Katsu Curry", category: "rice", diet: "non_veg", description: "Panko chicken cutlet with Japanese curry and rice", cents: 1400, tags: []),
            Dish(name: "Miso Soup", category: "soup", diet: "vegan", description: "Dashi, miso, tofu and wakame", cents: 400, tags: []),
            Dish(name: "Gyoza", category: "starter", diet: "non_veg", description: "Pan-fried pork and cabbage dumplings", cents: 750, tags: []),
            Dish(name: "Vegetable Tempura", category: "starter", diet: "vegan", description: "Lightly battered seasonal vegetables", cents: 850, tags: []),
            Dish(name: "Edamame", category: "starter", diet: "vegan", description: "Steamed soybeans with sea salt", cents: 450, tags: []),
        ]),
        Cuisine(name: "chinese", related: ["asian", "noodles"], nameParts: (["Golden", "Red", "Jade", "Dragon", "Bamboo"], ["Wok", "Dragon", "Garden", "Lantern", "Pavilion"]), dishes: [
            Dish(name: "Kung Pao Chicken", category: "main", diet: "non_veg", description: "Wok-fried chicken with peanuts and dried chillies", cents: 1100, tags: ["spicy"]),
            Dish(name: "Mapo Tofu", category: "main", diet: "veg", description: "Silken tofu in a numbing Sichuan chilli sauce", cents: 950, tags: ["spicy"]),
            Dish(name: "Hakka Noodles", category: "noodles", diet: "vegan", description: "Stir-fried noodles with vegetables and soy", cents: 800, tags: []),
            Dish(name: "Veg Manchurian", category: "starter", diet: "veg", description: "Vegetable balls in a tangy soy and garlic sauce", cents: 750, tags: []),
            Dish(name: "Chicken Fried Rice", category: "rice", diet: "non_veg", description: "Wok-tossed rice with egg, chicken and spring onion", cents: 900, tags: ["bestseller"]),
            Dish(name: "Spring Rolls", category: "starter", diet: "vegan", description: "Crisp rolls of cabbage, carrot and glass noodles", cents: 600, tags: []),
            Dish(name: "Sweet and Sour Pork", category: "main", diet: "non_veg", description: "Battered pork with pineapple and peppers", cents: 1150, tags: []),
            Dish(name: "Dim Sum Basket", category: "starter", diet: "non_veg", description: "Har gow, siu mai and char siu bao", cents: 1200, tags: []),
        ]),
        Cuisine(name: "american", related: ["burgers", "fast food"], nameParts: (["Big", "Smoky", "Liberty", "Diner", "Urban"], ["Burger Co", "Grill", "Shack", "Diner", "Smokehouse"]), dishes: [
            Dish(name: "Classic Cheeseburger", category: "burgers", diet: "non_veg", description: "Beef patty, cheddar, pickles and house sauce", cents: 1100, tags: ["bestseller"]),
            Dish(name: "Bacon Burger", category: "burgers", diet: "non_veg", description: "Beef patty, smoked bacon and cheddar", cents: 1300, tags: []),
            Dish(name: "Veggie Burger", category: "burgers", diet: "veg", description: "Black bean patty with lettuce and tomato", cents: 1000, tags: []),
            Dish(name: "French Fries", category: "sides", diet: "vegan", description: "Crisp skin-on fries with sea salt", cents: 400, tags: []),
            Dish(name: "Buffalo Chicken Wings", category: "starter", diet: "non_veg", description: "Wings tossed in hot sauce with blue cheese dip", cents: 1050, tags: ["spicy"]),
            Dish(name: "Caesar Salad", category: "salad", diet: "non_veg", description: "Romaine, parmesan, croutons and anchovy dressing", cents: 900, tags: []),
            Dish(name: "Chocolate Milkshake", category: "drinks", diet: "veg", description: "Thick shake with chocolate ice cream", cents: 550, tags: []),
            Dish(name: "Onion Rings", category: "sides", diet: "veg", description: "Beer-battered onion rings", cents: 450, tags: []),
        ]),
        Cuisine(name: "thai", related: ["asian", "curry"], nameParts: (["Bangkok", "Siam", "Lotus", "Orchid", "Chiang Mai"], ["Kitchen", "Street", "House", "Garden", "Express"]), dishes: [
            Dish(name: "Pad Thai", category: "noodles", diet: "non_veg", description: "Rice noodles with prawns, tamarind, egg and peanuts", cents: 1150, tags: ["bestseller"]),
            Dish(name: "Green Curry", category: "curry", diet: "non_veg", description: "Chicken in green curry with Thai basil and coconut", cents: 1200, tags: ["spicy"]),
            Dish(name: "Tom Yum Soup", category: "soup", diet: "non_veg", description: "Hot and sour soup with prawns and lemongrass", cents: 900, tags: ["spicy"]),
            Dish(name: "Massaman Curry", category: "curry", diet: "non_veg", description: "Beef, potato and peanuts in mild curry", cents: 1300, tags: []),
            Dish(name: "Som Tam", category: "salad", diet: "vegan", description: "Green papaya salad with lime and chilli", cents: 800, tags: ["spicy"]),
            Dish(name: "Mango Sticky Rice", category: "dessert", diet: "vegan", description: "Sweet coconut rice with ripe mango", cents: 650, tags: []),
        ]),
        Cuisine(name: "middle eastern", related: ["lebanese", "grill"], nameParts: (["Beirut", "Sultan", "Petra", "Cedar", "Zaatar"], ["Grill", "Kitchen", "House", "Kebab", "Table"]), dishes: [
            Dish(name: "Chicken Shawarma", category: "wraps", diet: "non_veg", description: "Marinated chicken, garlic sauce and pickles in flatbread", cents: 900, tags: ["bestseller"]),
            Dish(name: "Falafel Wrap", category: "wraps", diet: "vegan", description: "Chickpea falafel, tahini and salad", cents: 800, tags: []),
            Dish(name: "Hummus", category: "starter", diet: "vegan", description: "Chickpea and tahini dip with olive oil", cents: 550, tags: []),
            Dish(name: "Lamb Kebab", category: "grill", diet: "non_veg", description: "Charcoal-grilled minced lamb skewers", cents: 1400, tags: []),
            Dish(name: "Tabbouleh", category: "salad", diet: "vegan", description: "Parsley, bulgur, tomato and lemon", cents: 650, tags: []),
            Dish(name: "Baklava", category: "dessert", diet: "veg", description: "Filo pastry with pistachio and honey", cents: 500, tags: []),
        ]),
        Cuisine(name: "nepali", related: ["momo", "himalayan"], nameParts: (["Himalayan", "Everest", "Yak", "Annapurna", "Sherpa"], ["Kitchen", "Momo House", "Cafe", "Thakali", "Bhojan"]), dishes: [
            Dish(name: "Chicken Momo", category: "momo", diet: "non_veg", description: "Steamed dumplings with spiced chicken and tomato achar", cents: 500, tags: ["bestseller"]),
            Dish(name: "Veg Momo", category: "momo", diet: "veg", description: "Steamed dumplings with cabbage and paneer", cents: 450, tags: []),
            Dish(name: "Jhol Momo", category: "momo", diet: "non_veg", description: "Dumplings in a tangy sesame and tomato broth", cents: 550, tags: ["spicy"]),
            Dish(name: "Dal Bhat", category: "main", diet: "vegan", description: "Lentil soup, rice, greens and pickle", cents: 600, tags: []),
            Dish(name: "Thukpa", category: "soup", diet: "non_veg", description: "Himalayan noodle soup with chicken", cents: 650, tags: []),
            Dish(name: "Sel Roti", category: "dessert", diet: "vegan", description: "Sweet ring-shaped rice bread", cents: 300, tags: []),
        ]),
    ]

    static let drinks: [Dish] = [
        Dish(name: "Coca Cola", category: "drinks", diet: "vegan", description: "Chilled 330 ml can", cents: 200, tags: []),
        Dish(name: "Masala Chai", category: "drinks", diet: "veg", description: "Spiced milk tea", cents: 200, tags: []),
        Dish(name: "Cold Coffee", category: "drinks", diet: "veg", description: "Iced coffee blended with milk", cents: 350, tags: []),
        Dish(name: "Fresh Lime Soda", category: "drinks", diet: "vegan", description: "Lime, soda and a pinch of salt", cents: 250, tags: []),
    ]

    static let streets = ["Hill Road", "Station Road", "High Street", "Market Lane", "Park Avenue", "Lake View", "Temple Street", "Main Street"]
}
