import Crypto
import Foundation
import HearthEvents

/// What a menu item's search document stores: the item, and what search needs from its
/// restaurant (kept in step when the restaurant changes; nil until it is known or after removal).
public struct StoredMenuItem: Codable, Sendable, Equatable {
    public var item: MenuItemUpserted
    public var restaurant: RestaurantSummary?
}

extension StoredMenuItem {
    /// Its JSON, as `JSONEncoder` would write it (keys in declaration order, a nil restaurant left out), written
    /// directly: `JSONEncoder` had been 40% of the document builder's time. `JSONDecoder` reads it back to the same
    /// value (a test holds the two to that over a generated catalog and awkward strings). A value JSON cannot
    /// carry (a non-finite number) goes through `JSONEncoder`, which refuses it as before.
    func json() throws -> [UInt8] {
        guard restaurant.map({ $0.location.lat.isFinite && $0.location.lng.isFinite && $0.rating.isFinite }) ?? true else {
            return Array(try JSONEncoder().encode(self))
        }
        var out = JSONOut()
        out.bytes.reserveCapacity(512)
        let m = item
        out.raw("{\"item\":{\"item_id\":"); out.string(m.item_id)
        out.raw(",\"restaurant_id\":"); out.string(m.restaurant_id)
        out.raw(",\"revision\":"); out.number(m.revision)
        out.raw(",\"name\":"); out.string(m.name)
        out.raw(",\"description\":"); out.string(m.description)
        out.raw(",\"category\":"); out.string(m.category)
        out.raw(",\"tags\":"); out.strings(m.tags)
        out.raw(",\"diet\":"); out.string(m.diet)
        out.raw(",\"price_minor\":"); out.number(m.price_minor)
        out.raw(",\"currency\":"); out.string(m.currency)
        out.raw(m.available ? ",\"available\":true}" : ",\"available\":false}")
        if let r = restaurant {
            out.raw(",\"restaurant\":{\"name\":"); out.string(r.name)
            out.raw(",\"city\":"); out.string(r.city)
            out.raw(",\"cuisines\":"); out.strings(r.cuisines)
            out.raw(",\"location\":{\"lat\":"); out.number(r.location.lat)
            out.raw(",\"lng\":"); out.number(r.location.lng)
            out.raw("},\"rating\":"); out.number(r.rating)
            out.raw(",\"status\":"); out.string(r.status)
            out.raw(",\"timezone\":"); out.string(r.timezone)
            out.raw("}")
        }
        out.raw("}")
        return out.bytes
    }
}

/// JSON written byte by byte (for `StoredMenuItem.json`).
struct JSONOut {
    var bytes: [UInt8] = []
    private static let hex = Array("0123456789abcdef".utf8)

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A string, quoted: `"` and `\\` escaped, control characters as `\\u00XX`, everything else as its UTF-8.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          Self.hex[Int(b >> 4)], Self.hex[Int(b & 0xF)]])
            default:
                bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func strings(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(v)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func number(_ value: Int64) { bytes.append(contentsOf: String(value).utf8) }

    /// A finite double as Swift prints it: the shortest digits that read back to the same value (`1e-05` is JSON too).
    mutating func number(_ value: Double) { bytes.append(contentsOf: value.description.utf8) }
}

extension StoredMenuItem {
    /// Reads what `json()` wrote (or `JSONEncoder` before it) with the event reader; JSON it refuses goes
    /// through `JSONDecoder`, which throws as before.
    static func decode(_ bytes: [UInt8]) throws -> StoredMenuItem {
        if let read = try? read(bytes) { return read }
        return try JSONDecoder().decode(StoredMenuItem.self, from: Data(bytes))
    }

    /// The event reader's half of `decode`.
    static func read(_ bytes: [UInt8]) throws(EventError) -> StoredMenuItem {
        let root = try StoredJSONObject(bytes)
        return StoredMenuItem(item: try root.object("item").menuItemUpserted(),
                              restaurant: try root.optionalObject("restaurant").map { (r) throws(EventError) in
                                  let location = try r.object("location")
                                  return RestaurantSummary(name: try r.string("name"), city: try r.string("city"),
                                                           cuisines: try r.strings("cuisines"),
                                                           location: GeoPoint(lat: try location.double("lat"), lng: try location.double("lng")),
                                                           rating: try r.double("rating"), status: try r.string("status"),
                                                           timezone: try r.string("timezone"))
                              })
    }
}

extension RestaurantUpserted {
    /// A restaurant as the index stores it (`JSONEncoder`'s keys are the contract's), read with the event reader;
    /// JSON it refuses goes through `JSONDecoder`.
    static func decodeStored(_ bytes: [UInt8]) throws -> RestaurantUpserted {
        if let read = try? StoredJSONObject(bytes).restaurantUpserted() { return read }
        return try JSONDecoder().decode(RestaurantUpserted.self, from: Data(bytes))
    }
}

/// The restaurant fields a menu item carries.
public struct RestaurantSummary: Codable, Sendable, Equatable {
    public var name: String
    public var city: String
    public var cuisines: [String]
    public var location: GeoPoint
    public var rating: Double
    public var status: String
    public var timezone: String
}

extension RestaurantSummary {
    // In an extension, so that the memberwise initialiser (which `StoredMenuItem.read` uses) stays.
    init(_ r: RestaurantUpserted) {
        self.init(name: r.name, city: r.city, cuisines: r.cuisines, location: r.location, rating: r.rating,
                  status: r.status, timezone: r.timezone)
    }
}

/// One completion offered while typing: a dish name, a restaurant name or a cuisine, with how
/// many dishes or ACTIVE restaurants carry it and how often it was ordered lately.
public struct Suggestion: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case dish, restaurant, cuisine }
    public var text: String
    public var kind: Kind
    /// The city it is counted in (nil: dishes of restaurants not yet known).
    public var city: String?
    public var count: Int
    /// Orders in the popularity window (dishes: orders holding the dish; restaurants and cuisines:
    /// orders from the restaurants), as of the last popularity refresh.
    public var orders: Int64

    /// The identity of a suggestion: its words, lower-case, accents folded.
    static func key(_ kind: Kind, _ text: String) -> String { key(words: QueryPlanner.words(text)) }
    /// The identity of a suggestion whose text has these words.
    static func key(words: [String]) -> String { words.joined(separator: " ") }

    /// The term naming this suggestion's document.
    var idTerm: String { Self.idTerm(kind, city: city, key: Self.key(kind, text)) }
    /// The term naming the suggestion of `kind` in `city` whose identity is `key`.
    static func idTerm(_ kind: Kind, city: String?, key: String) -> String {
        SearchSchema.suggestionID(kind.rawValue, SearchSchema.normal(city ?? ""), key)
    }
    /// The term naming the suggestion of `kind` in `city` that `text` counts in; nil when `text` has no words.
    static func idTerm(_ kind: Kind, _ text: String, city: String?) -> String? {
        let key = key(kind, text)
        return key.isEmpty ? nil : idTerm(kind, city: city, key: key)
    }

    /// Stored as `kind TAB count TAB orders TAB city TAB text` (read on every keystroke: cheaper than JSON).
    var stored: [UInt8] {
        let tab = UInt8(ascii: "\t")
        var out: [UInt8] = []
        out.reserveCapacity(kind.rawValue.utf8.count + (city?.utf8.count ?? 0) + text.utf8.count + 24)
        out += kind.rawValue.utf8
        out.append(tab)
        out += String(count).utf8
        out.append(tab)
        out += String(orders).utf8
        out.append(tab)
        out += (city ?? "").utf8
        out.append(tab)
        for byte in text.utf8 { out.append(byte == tab ? UInt8(ascii: " ") : byte) }
        return out
    }

    init(text: String, kind: Kind, city: String?, count: Int, orders: Int64 = 0) {
        self.text = text; self.kind = kind; self.city = city; self.count = count; self.orders = orders
    }

    init?(stored bytes: [UInt8]) {
        let parts = bytes.split(separator: UInt8(ascii: "\t"), maxSplits: 4, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        // Indexes written before orders were counted hold four fields: `kind TAB count TAB city TAB text`.
        let fields = parts.count == 4 ? [parts[0], parts[1], "0", parts[2], parts[3]] : parts
        guard fields.count == 5, let kind = Kind(rawValue: fields[0]), let count = Int(fields[1]), let orders = Int64(fields[2]) else { return nil }
        self.init(text: fields[4], kind: kind, city: fields[3].isEmpty ? nil : fields[3], count: count, orders: orders)
    }
}

/// Terms and value slots of the index. Boolean filter terms carry an upper-case prefix;
/// free-text terms are lower-case words (and `Z` stems), as Xapian's term generator makes them.
enum SearchSchema {
    static let itemType = "XTitem", restaurantType = "XTrestaurant"
    /// On restaurants that are not ACTIVE and on items whose restaurant is unknown or not ACTIVE.
    static let hidden = "XDEAD"
    static let unavailable = "XUNAVAIL"
    /// The boolean terms each reader keeps as flags per document (`XapianDatabase.flags`), sorted.
    static let flagTerms = [hidden, itemType, restaurantType, unavailable].sorted()
    /// Restaurants' time zones (IANA names as given), for the open-now filter.
    static let zonePrefix = "XZONE"
    static func restaurantTerm(_ id: String) -> String { bounded("XR" + id) }
    static func city(_ v: String) -> String { bounded("XCITY" + normal(v)) }
    static func category(_ v: String) -> String { bounded("XCAT" + normal(v)) }
    static func diet(_ v: String) -> String { bounded("XDIET" + normal(v)) }
    static func tag(_ v: String) -> String { bounded("XTAG" + normal(v)) }
    static func cuisine(_ v: String) -> String { bounded("XCUIS" + normal(v)) }
    static func zone(_ v: String) -> String { bounded(zonePrefix + v) }
    static func itemID(_ id: String) -> String { bounded("Qm:" + id) }
    static func restaurantID(_ id: String) -> String { bounded("Qr:" + id) }
    static func suggestionID(_ kind: String, _ city: String, _ key: String) -> String {
        bounded(suggestionIDPrefix + "\(kind):\(city):" + key)
    }

    /// The longest term kept as it is. Xapian refuses terms over 245 bytes, and the event contract allows
    /// names and cities of 200 characters (up to 800 bytes) and ids of 64.
    static let maxTermBytes = 240

    /// `term` when it fits; otherwise its first bytes (whole characters, up to 200 bytes), `#` and 16 hex digits
    /// of a SHA-256 of the whole term. Writer and queries make the same term from the same value, and two values
    /// differing anywhere get different terms.
    static func bounded(_ term: String) -> String {
        let bytes = term.utf8
        guard bytes.count > maxTermBytes else { return term }
        var end = bytes.index(bytes.startIndex, offsetBy: 200)
        while end > bytes.startIndex, UTF8.isContinuation(bytes[end]) { bytes.formIndex(before: &end) }
        let digest = SHA256.hash(data: Array(bytes)).prefix(8).map { String(format: "%02x", $0) }.joined()
        return String(term.utf8[..<end])! + "#" + digest
    }
    /// What every suggestion's id term starts with.
    static let suggestionIDPrefix = "Qs:"
    static let suggestionType = "XTsuggest"
    /// Index metadata that changes with every commit that changes a suggestion (readers keep the
    /// suggestions in memory, and read them again when it changed).
    static let suggestionsRevisionKey = "hearth:suggestions-revision"
    /// Lowercased, without the whitespace at either end. Most values end in an ASCII byte that is not a space
    /// or tab at both ends, which no trimming can remove: they skip Foundation's trimming (bridged through
    /// NSString, 7% of indexing).
    static func normal(_ v: String) -> String {
        let lower = v.lowercased()
        if let first = lower.utf8.first, let last = lower.utf8.last,
           first < 0x80, first != 0x20, first != 0x09, last < 0x80, last != 0x20, last != 0x09 {
            return lower
        }
        return lower.trimmingCharacters(in: .whitespaces)
    }

    // Value slots of items.
    static let itemPrice: UInt32 = 0, itemPopularity: UInt32 = 1
    // Value slots of restaurants.
    static let restaurantRating: UInt32 = 0, restaurantPopularity: UInt32 = 1, restaurantLocation: UInt32 = 5
    static let restaurantZone: UInt32 = 6, restaurantHours: UInt32 = 7
    // Slot 8 held items' restaurant locations until 2026-12-03 (nothing read it); left unused, as indexes
    // written before still have it.
    // Slot 12 (`XapianDocument.dataSlot`) holds every document's data.
    /// Items' and restaurants' facet values, packed in one slot (one read per match when counting).
    static let packedFacets: UInt32 = 11
    /// The facet fields in their packing order.
    static let itemFacetFields = ["category", "diet", "city", "cuisine", "price_band"]
    static let restaurantFacetFields = ["cuisine", "city", "price_level"]

    /// Facet values joined by 0x1F (empty: the document has no value for that facet).
    static func packFacets(_ values: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, value) in values.enumerated() {
            if i > 0 { out.append(0x1F) }
            out += value.utf8.map { $0 == 0x1F ? 0x20 : $0 }
        }
        return out
    }

    /// Items' and restaurants' popularity value (slot 1): log(1 + orders in the window) to one
    /// decimal, so that small changes in counts rewrite nothing; empty (absent) without orders.
    static func popularityValue(orders: Int64) -> [UInt8] {
        orders <= 0 ? [] : Sortable.encode((log1p(Double(orders)) * 10).rounded() / 10)
    }

    static let minutesPerWeek = 7 * 24 * 60

    /// Opening hours as [start, end) minutes of the local week, two little-endian UInt16 each; hours
    /// past midnight run into the next day, and past Saturday midnight into Sunday.
    static func openIntervals(_ hours: [OpeningHours]) -> [UInt8] {
        var out: [UInt8] = []
        func add(_ a: Int, _ b: Int) {
            for v in [a, b] { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
        }
        for h in hours {
            guard (0...6).contains(h.day), let open = minutes(h.open), let close = minutes(h.close) else { continue }
            let start = h.day * 1440 + open
            var end = h.day * 1440 + close
            if close <= open { end += 1440 }
            if end <= minutesPerWeek { add(start, end) } else { add(start, minutesPerWeek); add(0, end - minutesPerWeek) }
        }
        return out
    }

    /// `HH:MM` as minutes since midnight (24:00 allowed as the end of the day).
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0...59).contains(m),
              h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }

    /// The label of the price band `price` falls in, for bounds `bands` (minor units).
    static func priceBand(_ price: Int64, bands: [Int]) -> String {
        var lower = 0
        for upper in bands {
            if price < upper { return "\(lower)-\(upper)" }
            lower = upper
        }
        return "\(lower)+"
    }
}

extension SearchSink {
    static func itemDocument(_ stored: StoredMenuItem, definition: IndexDefinition, popularity: [UInt8]? = nil) throws -> XapianDocument {
        let m = stored.item
        let doc = XapianDocument()
        if let popularity, !popularity.isEmpty { try doc.addValue(SearchSchema.itemPopularity, bytes: popularity) }
        try doc.setData(try stored.json())
        try doc.addBooleanTerm(SearchSchema.itemType)
        try doc.addBooleanTerm(SearchSchema.restaurantTerm(m.restaurant_id))
        try doc.addBooleanTerm(SearchSchema.category(m.category))
        try doc.addBooleanTerm(SearchSchema.diet(m.diet))
        for tag in m.tags { try doc.addBooleanTerm(SearchSchema.tag(tag)) }
        if !m.available { try doc.addBooleanTerm(SearchSchema.unavailable) }
        if stored.restaurant?.status != "ACTIVE" { try doc.addBooleanTerm(SearchSchema.hidden) }
        try doc.addValue(SearchSchema.itemPrice, number: Double(m.price_minor))
        try doc.addValue(SearchSchema.packedFacets, bytes: SearchSchema.packFacets([
            SearchSchema.normal(m.category), m.diet, stored.restaurant?.city ?? "",
            stored.restaurant?.cuisines.first.map(SearchSchema.normal) ?? "",
            SearchSchema.priceBand(m.price_minor, bands: definition.priceBandsMinor),
        ]))
        // The restaurant's location travels in the stored data: no query of items reads it from a value slot.
        if let r = stored.restaurant { try doc.addBooleanTerm(SearchSchema.city(r.city)) }
        let texts: [String: String] = [
            "name": m.name, "category": m.category, "tags": m.tags.joined(separator: " "), "description": m.description,
            "diet": m.diet == "non_veg" ? "" : m.diet, "restaurant_name": stored.restaurant?.name ?? "",
            "cuisines": stored.restaurant?.cuisines.joined(separator: " ") ?? "",
        ]
        for (field, weight) in definition.fields.sorted(by: { $0.key < $1.key }) {
            if let text = texts[field], !text.isEmpty { try doc.indexText(text, weight: UInt32(weight)) }
        }
        return doc
    }

    static func suggestionDocument(_ s: Suggestion) throws -> XapianDocument {
        let doc = XapianDocument()
        // In Xapian's document data, not the data slot: see `SearchSink.writeCounts`.
        try doc.setDocumentData(s.stored)
        try doc.addBooleanTerm(SearchSchema.suggestionType)
        if let city = s.city { try doc.addBooleanTerm(SearchSchema.city(city)) }
        try doc.indexText(s.text)
        return doc
    }

    static func restaurantDocument(_ r: RestaurantUpserted, definition: IndexDefinition, popularity: [UInt8]? = nil) throws -> XapianDocument {
        let doc = XapianDocument()
        if let popularity, !popularity.isEmpty { try doc.addValue(SearchSchema.restaurantPopularity, bytes: popularity) }
        try doc.setData(Array(try JSONEncoder().encode(r)))
        try doc.addBooleanTerm(SearchSchema.restaurantType)
        try doc.addBooleanTerm(SearchSchema.city(r.city))
        for c in r.cuisines { try doc.addBooleanTerm(SearchSchema.cuisine(c)) }
        if r.status != "ACTIVE" { try doc.addBooleanTerm(SearchSchema.hidden) }
        try doc.addValue(SearchSchema.restaurantRating, number: r.rating)
        try doc.addValue(SearchSchema.packedFacets, bytes: SearchSchema.packFacets([
            r.cuisines.first.map(SearchSchema.normal) ?? "", r.city, String(r.price_level),
        ]))
        try doc.addValue(SearchSchema.restaurantLocation, bytes: GeoValue.encode(lat: r.location.lat, lng: r.location.lng))
        try doc.addValue(SearchSchema.restaurantZone, r.timezone)
        try doc.addBooleanTerm(SearchSchema.zone(r.timezone))
        try doc.addValue(SearchSchema.restaurantHours, bytes: SearchSchema.openIntervals(r.opening_hours))
        let texts: [String: String] = [
            "name": r.name, "cuisines": r.cuisines.joined(separator: " "), "city": r.city, "address": r.address,
        ]
        for (field, weight) in definition.fields.sorted(by: { $0.key < $1.key }) {
            if let text = texts[field], !text.isEmpty { try doc.indexText(text, weight: UInt32(weight)) }
        }
        return doc
    }
}
