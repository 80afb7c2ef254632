import Foundation
@testable import HearthCore
import HearthEvents
import Testing

/// The contract (`shared/contracts/events.md`) is the source of truth: these are its examples.
@Suite struct EventContractTests {
    let codec = EventCodec()

    func envelope(_ type: String, _ data: String, at: String = "2026-11-22T18:04:05.123Z", version: String = "1") -> [UInt8] {
        Array("""
        {"event_id":"0b7d3c2e-6f1a-4b7e-9f0e-3c1d2a4b5c6d","type":"\(type)","occurred_at":"\(at)","schema_version":\(version),"data":\(data)}
        """.utf8)
    }

    static let restaurant = """
        {"restaurant_id":"r-000123","revision":7,"name":"Slice of Napoli","cuisines":["pizza","italian"],"city":"Mumbai",
         "country":"IN","timezone":"Asia/Kolkata","address":"12 Hill Road, Bandra West","location":{"lat":19.0544,"lng":72.8402},
         "rating":4.4,"rating_count":1893,"price_level":2,"status":"ACTIVE","opening_hours":[{"day":1,"open":"11:00","close":"23:30"}]}
        """
    static let menuItem = """
        {"item_id":"m-0004567","restaurant_id":"r-000123","revision":3,"name":"Pepperoni Feast",
         "description":"Double pepperoni, mozzarella and oregano on a hand-tossed base","category":"pizza",
         "tags":["spicy","bestseller"],"diet":"non_veg","price_minor":54900,"currency":"INR","available":true}
        """
    static let placed = """
        {"order_id":"o-9f3a21","customer_id":"c-77812","restaurant_id":"r-000123","city":"Mumbai","currency":"INR","channel":"app",
         "payment_method":"upi","items":[{"item_id":"m-0004567","name":"Pepperoni Feast","quantity":2,"unit_price_minor":54900}],
         "subtotal_minor":109800,"delivery_fee_minor":4000,"discount_minor":0,"total_minor":113800}
        """
    static let dims = #""order_id":"o-9f3a21","restaurant_id":"r-000123","city":"Mumbai","currency":"INR""#

    @Test func decodesEveryTypeOfTheContract() throws {
        let cases: [(String, String, String)] = [
            ("restaurant.upserted", Self.restaurant, "restaurants"),
            ("restaurant.removed", #"{"restaurant_id":"r-000123","revision":8}"#, "restaurants"),
            ("menu_item.upserted", Self.menuItem, "menus"),
            ("menu_item.removed", #"{"item_id":"m-0004567","restaurant_id":"r-000123","revision":4}"#, "menus"),
            ("order.placed", Self.placed, "orders"),
            ("order.status_changed", "{\(Self.dims),\"status\":\"OUT_FOR_DELIVERY\"}", "orders"),
            ("order.delivered", "{\(Self.dims),\"delivery_minutes\":31.5}", "orders"),
            ("order.cancelled", "{\(Self.dims),\"reason\":\"no_rider\",\"refund_minor\":113800}", "orders"),
            ("payment.succeeded", "{\(Self.dims),\"payment_id\":\"p-1\",\"method\":\"upi\",\"amount_minor\":113800}", "orders"),
            ("payment.failed", "{\(Self.dims),\"payment_id\":\"p-2\",\"method\":\"card\",\"amount_minor\":113800}", "orders"),
            ("review.posted", "{\(Self.dims),\"rating\":5}", "orders"),
        ]
        #expect(Set(cases.map(\.0)) == Set(EventType.allCases.map(\.rawValue)))
        for (type, data, topic) in cases {
            let event = try codec.decode(envelope(type, data), topic: topic)
            #expect(event.type.rawValue == type)
            #expect(event.type.topic == topic)
            #expect(event.occurredAt.epochMillis == 1_795_370_645_123)
        }
        let placed = try codec.decode(envelope("order.placed", Self.placed))
        guard case .orderPlaced(let o) = placed.payload else { Issue.record("wrong payload"); return }
        #expect(o.total_minor == 113_800 && o.items.first?.quantity == 2 && placed.payload.key == "o-9f3a21")
    }

    @Test func unknownFieldsAreIgnored() throws {
        let data = Self.placed.replacingOccurrences(of: "\"channel\":\"app\"", with: "\"channel\":\"app\",\"future_field\":{\"x\":1}")
        #expect(throws: Never.self) { try codec.decode(envelope("order.placed", data)) }
    }

    @Test func timestampsKeepTheirInstantAcrossZones() throws {
        let utc = try #require(Timestamp(rfc3339: "2026-11-22T18:04:05.123Z"))
        let kolkata = try #require(Timestamp(rfc3339: "2026-11-22T23:34:05.123+05:30"))
        let kathmandu = try #require(Timestamp(rfc3339: "2026-11-22T23:49:05.123+05:45"))
        #expect(utc == kolkata && kolkata == kathmandu)
        #expect(Timestamp(rfc3339: "2026-11-22T18:04:05Z")?.epochMillis == 1_795_370_645_000)
        #expect(kathmandu.formatted(offsetSeconds: 20_700) == "2026-11-22T23:49:05.123+05:45")
        for bad in ["2026-11-22 18:04", "2026-11-22T18:04:05", "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z", "yesterday", ""] {
            #expect(Timestamp(rfc3339: bad) == nil, "\(bad) should be rejected")
        }
    }

    func code(_ value: [UInt8], topic: String? = nil) -> String? {
        do {
            _ = try codec.decode(value, topic: topic)
            return nil
        } catch { return error.code }
    }

    @Test func invalidRecordsGetTypedErrors() {
        #expect(code(Array("not json".utf8)) == "invalid_json")
        #expect(code([0x7B, 0x22, 0xFF, 0x22, 0x7D]) == "invalid_utf8")
        #expect(code(Array("[1,2]".utf8)) == "not_object")
        #expect(code(envelope("order.teleported", Self.placed)) == "unknown_type")
        #expect(code(envelope("order.placed", Self.placed, version: "2")) == "unsupported_version")
        #expect(code(envelope("order.placed", Self.placed, version: "\"1\"")) == "wrong_type")
        #expect(code(envelope("order.placed", Self.placed, at: "22/11/2026")) == "invalid_timestamp")
        #expect(code(envelope("order.placed", Self.placed, at: "0001-01-01T00:00:00+05:30")) == "invalid_timestamp", "year 0 in UTC")
        #expect(code(envelope("order.placed", Self.placed, at: "1899-12-31T23:59:59Z")) == "invalid_timestamp")
        #expect(code(envelope("order.placed", Self.placed.replacingOccurrences(of: "\"currency\":\"INR\",", with: ""))) == "missing_field")
        #expect(code(envelope("order.placed", Self.placed.replacingOccurrences(of: "\"quantity\":2", with: "\"quantity\":\"2\""))) == "wrong_type")
        #expect(code(envelope("order.placed", Self.placed.replacingOccurrences(of: "113800", with: "113801"))) == "total_mismatch")
        #expect(code(envelope("order.placed", Self.placed.replacingOccurrences(of: "109800", with: "1098.5"))) == "wrong_type")
        #expect(code(envelope("order.placed", Self.placed.replacingOccurrences(of: "\"upi\"", with: "\"cheque\""))) == "invalid_value")
        #expect(code(envelope("review.posted", "{\(Self.dims),\"rating\":6}")) == "invalid_value")
        #expect(code(envelope("restaurant.upserted", Self.restaurant.replacingOccurrences(of: "Slice of Napoli", with: String(repeating: "n", count: 5000)))) == "value_too_long")
        #expect(code(envelope("order.placed", Self.placed), topic: "restaurants") == "wrong_topic")
        let big = Array(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
        #expect(code(big) == "too_large")
        let longID = Array("""
            {"event_id":"\(String(repeating: "e", count: 65))","type":"review.posted","occurred_at":"2026-11-22T18:04:05Z","schema_version":1,"data":{\(Self.dims),"rating":5}}
            """.utf8)
        #expect(code(longID) == "invalid_value")
    }

    /// Lengths are limits in characters, whatever their UTF-8 bytes; UTF-8 is checked at every position.
    @Test func lengthsCountCharactersAndUTF8IsCheckedThroughout() {
        func withID(_ id: String) -> [UInt8] {
            Array(#"{"event_id":"\#(id)","type":"review.posted","occurred_at":"2026-11-22T18:04:05Z","schema_version":1,"data":{\#(Self.dims),"rating":5}}"#.utf8)
        }
        #expect(code(withID(String(repeating: "é", count: 64))) == nil, "64 characters in 128 bytes")
        #expect(code(withID(String(repeating: "é", count: 65))) == "invalid_value")
        #expect(code(withID(String(repeating: "🇮🇳", count: 64))) == nil, "64 flags: 512 bytes, 128 scalars")
        #expect(code(withID("")) == "invalid_value")
        func named(_ name: String) -> [UInt8] { envelope("restaurant.upserted", Self.restaurant.replacingOccurrences(of: "Slice of Napoli", with: name)) }
        #expect(code(named(String(repeating: "ñ", count: 200))) == nil)
        #expect(code(named(String(repeating: "ñ", count: 201))) == "value_too_long")
        #expect(code(named("Crème brûlée 🍮")) == nil)
        // A bad byte inside an eight-byte stride, in the tail after the last stride, and a sequence cut short.
        let good = withID("abc")
        for position in [3, 20, good.count - 2] {
            var bad = good
            bad[position] = 0xFF
            #expect(code(bad) == "invalid_utf8", "0xFF at byte \(position)")
        }
        #expect(code(Array(#"{"event_id":"a"#.utf8) + [0xC3] + Array(#""}"#.utf8)) == "invalid_utf8", "a two-byte sequence without its second byte")
    }

    @Test func missingFieldErrorsNameTheField() {
        do {
            _ = try codec.decode(envelope("order.placed", Self.placed.replacingOccurrences(of: "\"customer_id\":\"c-77812\",", with: "")))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "missing_field")
            #expect(error.message.contains("data.customer_id"))
            #expect(error.stage == .decode)
        }
    }

    @Test func errorsNameArrayElementsAndKeysMayBeEscaped() throws {
        func failure(_ data: String) -> EventError? {
            do { _ = try codec.decode(envelope("order.placed", data)); return nil } catch { return error }
        }
        let quantity = failure(Self.placed.replacingOccurrences(of: "\"quantity\":2", with: "\"quantity\":\"2\""))
        #expect(quantity?.message == "field data.items[0].quantity must be an integer, not a string")
        let null = failure(Self.placed.replacingOccurrences(of: "\"customer_id\":\"c-77812\"", with: "\"customer_id\":null"))
        #expect(null?.code == "missing_field")
        // A key spelled with escapes is the same key; a value with escapes is decoded.
        let escaped = Self.placed.replacingOccurrences(of: "\"customer_id\":\"c-77812\"", with: #""customer\u005fid":"c-\u00e97812""#)
        let event = try codec.decode(envelope("order.placed", escaped))
        guard case .orderPlaced(let placed) = event.payload else { Issue.record("not an order"); return }
        #expect(placed.customer_id == "c-é7812")
    }

    @Test func generatedEventsRoundTripThroughTheContract() throws {
        var config = GeneratorConfig()
        config.restaurants = 20
        var generator = EventGenerator(config: config)
        var kinds: [GeneratedRecord.Kind: Int] = [:]
        var types = Set<EventType>()
        for _ in 0..<20_000 {
            let r = generator.next()
            kinds[r.kind, default: 0] += 1
            switch r.kind {
            case .invalid:
                #expect(throws: EventError.self) { try codec.decode(r.value, topic: r.topic) }
            default:
                let event = try codec.decode(r.value, topic: r.topic)
                types.insert(event.type)
                #expect(r.key == Array(event.payload.key.utf8))
                #expect(String(decoding: codec.encode(event), as: UTF8.self) == String(decoding: r.value, as: UTF8.self))
            }
        }
        #expect(types == Set(EventType.allCases).subtracting([.restaurantRemoved, .menuItemRemoved]))
        #expect(kinds[.invalid, default: 0] > 50)
        #expect(kinds[.duplicate, default: 0] > 50)
        #expect(kinds[.late, default: 0] > 50)
        #expect(generator.expected.records == 20_000)
        #expect(generator.expected.invalid == kinds[.invalid] && generator.expected.duplicates == kinds[.duplicate])
    }

    @Test func generatorIsDeterministic() {
        var a = EventGenerator(), b = EventGenerator()
        var same = true
        for _ in 0..<3000 where a.next().value != b.next().value { same = false }
        #expect(same)
        var c = EventGenerator(config: { var g = GeneratorConfig(); g.seed = 7; return g }())
        var differs = false
        for _ in 0..<3000 where a.next().value != c.next().value { differs = true }
        #expect(differs)
    }

    @Test func ordersPeakAtLunchAndDinnerLocalTime() {
        #expect(EventGenerator.intensity(localHour: 13) > 5 * EventGenerator.intensity(localHour: 4))
        #expect(EventGenerator.intensity(localHour: 20) > EventGenerator.intensity(localHour: 16))
    }
}
