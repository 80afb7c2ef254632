import Foundation

/// Decodes and validates records against the event contract, and encodes events for producers.
public struct EventCodec: Sendable {
    /// The event times Hearth accepts: 1900-01-01T00:00:00Z up to the end of 9999 (UTC).
    public static let occurredAtRange: ClosedRange<Int64> = -2_208_988_800_000...253_402_300_799_999

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
        guard Self.isValidUTF8(value) else {
            throw .decode("invalid_utf8", "record value is not valid UTF-8")
        }
        let tape: JSONTape
        do { tape = try JSONTape(parsing: value) } catch { throw .decode("invalid_json", "record value is not JSON") }
        guard tape.nodes[0].kind == .object else { throw .decode("not_object", "record value is not a JSON object") }
        let event = try EventCodec.envelope(JSONFields(tape, node: 0, path: ""))
        if let topic, topic != event.type.topic, !topic.hasPrefix(event.type.topic + ".") {
            throw .invalid("wrong_topic", "event type \(event.type.rawValue) does not belong on topic \(topic)")
        }
        try EventValidator.validate(event)
        return event
    }

    /// Whether `bytes` are valid UTF-8: ASCII (most records) is checked eight bytes at a time, anything
    /// else by the standard library.
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        let ascii = bytes.withUnsafeBytes { raw -> Bool in
            var i = 0
            let n = raw.count
            while i + 8 <= n {
                if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
                i += 8
            }
            while i < n {
                if raw[i] >= 0x80 { return false }
                i += 1
            }
            return true
        }
        return ascii || String(validating: bytes, as: UTF8.self) != nil
    }

    /// Reads the envelope, then `data` by `type`.
    static func envelope(_ f: JSONFields) throws(EventError) -> Event {
        let eventID = try f.string("event_id")
        guard !eventID.isEmpty, EventValidator.fits(eventID, max: EventValidator.maxIDLength) else {
            throw .invalid("invalid_value", "event_id must be 1 to 64 characters")
        }
        let type = try f.string("type")
        guard let ts = Timestamp(rfc3339: try f.string("occurred_at")) else {
            throw .invalid("invalid_timestamp", "occurred_at is not an RFC 3339 timestamp with a zone")
        }
        // Stores cannot hold every RFC 3339 instant (PostgreSQL has no year 0): one such event would
        // stall its partition, so it is invalid instead.
        guard Self.occurredAtRange.contains(ts.epochMillis) else {
            throw .invalid("invalid_timestamp", "occurred_at must fall between 1900-01-01 and 9999-12-31 (UTC)")
        }
        let version = try f.int("schema_version")
        guard version == 1 else {
            throw .invalid("unsupported_version", "schema_version \(version) is not supported (expected 1)")
        }
        guard let eventType = EventType.named[type] else {
            throw .invalid("unknown_type", "unknown event type \"\(type.prefix(64))\"")
        }
        let payload = try EventPayload(type: eventType, data: try f.object("data"))
        return Event(eventID: eventID, occurredAt: ts, schemaVersion: 1, payload: payload)
    }

    /// The wire form of an event (the contract's envelope) as UTF-8 JSON.
    public func encode(_ event: Event) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain value types cannot fail.
        return Array((try? encoder.encode(WireEvent(event))) ?? Data())
    }
}

/// The envelope as it appears on the wire (for encoding).
struct WireEvent: Encodable {
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
