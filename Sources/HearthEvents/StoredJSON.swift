/// A JSON object that a store wrote from contract payloads (the search index keeps its menu items and
/// restaurants so), read back with the event reader: several times cheaper than `JSONDecoder`, which had been
/// most of the time the search writer spent on an update. The fields keep the contract's names, types and
/// error codes; what the reader refuses throws.
public struct StoredJSONObject {
    let fields: JSONFields

    public init(_ bytes: [UInt8]) throws(EventError) {
        let tape: JSONTape
        do { tape = try JSONTape(parsing: bytes) } catch { throw .decode("invalid_json", "stored value is not JSON") }
        guard tape.nodes[0].kind == .object else { throw .decode("not_object", "stored value is not a JSON object") }
        fields = JSONFields(tape, node: 0, path: "")
    }

    init(_ fields: JSONFields) { self.fields = fields }

    public func object(_ key: String) throws(EventError) -> StoredJSONObject { StoredJSONObject(try fields.object(key)) }

    /// The object at `key`; nil when it is absent or null.
    public func optionalObject(_ key: String) throws(EventError) -> StoredJSONObject? {
        guard fields.has(key) else { return nil }
        return try object(key)
    }

    public func string(_ key: String) throws(EventError) -> String { try fields.string(key) }
    public func strings(_ key: String) throws(EventError) -> [String] { try fields.strings(key) }
    public func double(_ key: String) throws(EventError) -> Double { try fields.double(key) }

    /// This object as the data of a `menu.item_upserted` event.
    public func menuItemUpserted() throws(EventError) -> MenuItemUpserted { try MenuItemUpserted(json: fields) }
    /// This object as the data of a `restaurant.upserted` event.
    public func restaurantUpserted() throws(EventError) -> RestaurantUpserted { try RestaurantUpserted(json: fields) }
}
