import Foundation

/// Decodes and validates records against the event contract, and encodes events for producers.
///
/// One instance is cheap; it is not shared across threads because `JSONDecoder` is a class.
public struct EventCodec: Sendable {
    /// The largest record value accepted (the contract's default is 1 MiB).
    public var maxRecordBytes: Int

    public init(maxRecordBytes: Int = 1 << 20) {
        self.maxRecordBytes = maxRecordBytes
    }

    /// Decodes one record value. `topic`, when given, must be the topic the event's type belongs on.
    public func decode(_ value: [UInt8], topic: String? = nil) throws(EventError) -> Event {
        guard value.count <= maxRecordBytes else {
            throw .decode("too_large", "record value is \(value.count) bytes, above the limit of \(maxRecordBytes)")
        }
        guard !value.isEmpty else { throw .decode("invalid_json", "record value is empty") }
        guard String(validating: value, as: UTF8.self) != nil else {
            throw .decode("invalid_utf8", "record value is not valid UTF-8")
        }
        let wire: WireEvent
        do {
            wire = try JSONDecoder().decode(WireEvent.self, from: Data(value))
        } catch let error as EventError {
            throw error
        } catch let error as DecodingError {
            var mapped = EventCodec.map(error)
            // Foundation reports a fraction in an integer field as corrupt JSON; tell the two apart.
            if mapped.code == "invalid_json", (try? JSONSerialization.jsonObject(with: Data(value))) is [String: Any] {
                mapped = .decode("wrong_type", "a numeric field holds a value of the wrong type (amounts and counts must be integers)")
            }
            throw mapped
        } catch {
            throw .decode("invalid_json", "record value is not JSON")
        }
        let event = Event(eventID: wire.eventID, occurredAt: wire.occurredAt, schemaVersion: wire.schemaVersion,
                          payload: wire.payload)
        if let topic, topic != event.type.topic, !topic.hasPrefix(event.type.topic + ".") {
            throw .invalid("wrong_topic", "event type \(event.type.rawValue) does not belong on topic \(topic)")
        }
        try EventValidator.validate(event)
        return event
    }

    /// The wire form of an event (the contract's envelope) as UTF-8 JSON.
    public func encode(_ event: Event) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain value types cannot fail.
        return Array((try? encoder.encode(WireEvent(event))) ?? Data())
    }

    static func map(_ error: DecodingError) -> EventError {
        func path(_ context: DecodingError.Context, _ extra: CodingKey? = nil) -> String {
            var keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            if let extra { keys.append(extra.stringValue) }
            return keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .decode("missing_field", "required field \(path(context, key)) is missing")
        case .valueNotFound(_, let context):
            return .decode("missing_field", "required field \(path(context)) is null")
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return .decode("not_object", "record value is not a JSON object") }
            return .decode("wrong_type", "field \(path(context)) must be \(EventCodec.typeName(type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .decode("invalid_json", "record value is not JSON") }
            return .decode("wrong_type", "field \(path(context)) has a value of the wrong type")
        @unknown default:
            return .decode("invalid_json", "record value could not be decoded")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// The envelope as it appears on the wire; decodes `data` by `type` in one pass.
struct WireEvent: Codable {
    var eventID: String
    var type: String
    var occurredAt: Timestamp
    var schemaVersion: Int
    var payload: EventPayload

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", type, occurredAt = "occurred_at", schemaVersion = "schema_version", data
    }

    init(_ event: Event) {
        eventID = event.eventID
        type = event.type.rawValue
        occurredAt = event.occurredAt
        schemaVersion = event.schemaVersion
        payload = event.payload
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventID = try c.decode(String.self, forKey: .eventID)
        guard (1...64).contains(eventID.count) else {
            throw EventError.invalid("invalid_value", "event_id must be 1 to 64 characters")
        }
        type = try c.decode(String.self, forKey: .type)
        let when = try c.decode(String.self, forKey: .occurredAt)
        guard let ts = Timestamp(rfc3339: when) else {
            throw EventError.invalid("invalid_timestamp", "occurred_at is not an RFC 3339 timestamp with a zone")
        }
        occurredAt = ts
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        guard schemaVersion == 1 else {
            throw EventError.invalid("unsupported_version", "schema_version \(schemaVersion) is not supported (expected 1)")
        }
        guard let eventType = EventType(rawValue: type) else {
            throw EventError.invalid("unknown_type", "unknown event type \"\(type.prefix(64))\"")
        }
        switch eventType {
        case .restaurantUpserted: payload = .restaurantUpserted(try c.decode(RestaurantUpserted.self, forKey: .data))
        case .restaurantRemoved: payload = .restaurantRemoved(try c.decode(RestaurantRemoved.self, forKey: .data))
        case .menuItemUpserted: payload = .menuItemUpserted(try c.decode(MenuItemUpserted.self, forKey: .data))
        case .menuItemRemoved: payload = .menuItemRemoved(try c.decode(MenuItemRemoved.self, forKey: .data))
        case .orderPlaced: payload = .orderPlaced(try c.decode(OrderPlaced.self, forKey: .data))
        case .orderStatusChanged: payload = .orderStatusChanged(try c.decode(OrderStatusChanged.self, forKey: .data))
        case .orderDelivered: payload = .orderDelivered(try c.decode(OrderDelivered.self, forKey: .data))
        case .orderCancelled: payload = .orderCancelled(try c.decode(OrderCancelled.self, forKey: .data))
        case .paymentSucceeded: payload = .paymentSucceeded(try c.decode(PaymentEvent.self, forKey: .data))
        case .paymentFailed: payload = .paymentFailed(try c.decode(PaymentEvent.self, forKey: .data))
        case .reviewPosted: payload = .reviewPosted(try c.decode(ReviewPosted.self, forKey: .data))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eventID, forKey: .eventID)
        try c.encode(type, forKey: .type)
        try c.encode(occurredAt.formatted(offsetSeconds: Int(occurredAt.offsetSeconds)), forKey: .occurredAt)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        switch payload {
        case .restaurantUpserted(let d): try c.encode(d, forKey: .data)
        case .restaurantRemoved(let d): try c.encode(d, forKey: .data)
        case .menuItemUpserted(let d): try c.encode(d, forKey: .data)
        case .menuItemRemoved(let d): try c.encode(d, forKey: .data)
        case .orderPlaced(let d): try c.encode(d, forKey: .data)
        case .orderStatusChanged(let d): try c.encode(d, forKey: .data)
        case .orderDelivered(let d): try c.encode(d, forKey: .data)
        case .orderCancelled(let d): try c.encode(d, forKey: .data)
        case .paymentSucceeded(let d), .paymentFailed(let d): try c.encode(d, forKey: .data)
        case .reviewPosted(let d): try c.encode(d, forKey: .data)
        }
    }
}
