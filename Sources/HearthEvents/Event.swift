import Foundation

/// Every event type of the contract, with the topic it belongs on.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case restaurantUpserted = "restaurant.upserted"
    case restaurantRemoved = "restaurant.removed"
    case menuItemUpserted = "menu_item.upserted"
    case menuItemRemoved = "menu_item.removed"
    case orderPlaced = "order.placed"
    case orderStatusChanged = "order.status_changed"
    case orderDelivered = "order.delivered"
    case orderCancelled = "order.cancelled"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case reviewPosted = "review.posted"

    /// Every type by its name (a hash look-up, where `init(rawValue:)` compares the names in turn).
    public static let named: [String: EventType] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The topic this type is produced to.
    public var topic: String {
        switch self {
        case .restaurantUpserted, .restaurantRemoved: "restaurants"
        case .menuItemUpserted, .menuItemRemoved: "menus"
        default: "orders"
        }
    }
}

/// The `data` of an event, by type.
public enum EventPayload: Sendable, Hashable {
    case restaurantUpserted(RestaurantUpserted)
    case restaurantRemoved(RestaurantRemoved)
    case menuItemUpserted(MenuItemUpserted)
    case menuItemRemoved(MenuItemRemoved)
    case orderPlaced(OrderPlaced)
    case orderStatusChanged(OrderStatusChanged)
    case orderDelivered(OrderDelivered)
    case orderCancelled(OrderCancelled)
    case paymentSucceeded(PaymentEvent)
    case paymentFailed(PaymentEvent)
    case reviewPosted(ReviewPosted)

    public var type: EventType {
        switch self {
        case .restaurantUpserted: .restaurantUpserted
        case .restaurantRemoved: .restaurantRemoved
        case .menuItemUpserted: .menuItemUpserted
        case .menuItemRemoved: .menuItemRemoved
        case .orderPlaced: .orderPlaced
        case .orderStatusChanged: .orderStatusChanged
        case .orderDelivered: .orderDelivered
        case .orderCancelled: .orderCancelled
        case .paymentSucceeded: .paymentSucceeded
        case .paymentFailed: .paymentFailed
        case .reviewPosted: .reviewPosted
        }
    }

    /// The record key the contract prescribes for this event.
    public var key: String {
        switch self {
        case .restaurantUpserted(let d): d.restaurant_id
        case .restaurantRemoved(let d): d.restaurant_id
        case .menuItemUpserted(let d): d.restaurant_id
        case .menuItemRemoved(let d): d.restaurant_id
        case .orderPlaced(let d): d.order_id
        case .orderStatusChanged(let d): d.order_id
        case .orderDelivered(let d): d.order_id
        case .orderCancelled(let d): d.order_id
        case .paymentSucceeded(let d), .paymentFailed(let d): d.order_id
        case .reviewPosted(let d): d.order_id
        }
    }
}

/// One validated event: the envelope and its typed payload.
public struct Event: Sendable, Hashable {
    public var eventID: String
    public var occurredAt: Timestamp
    public var schemaVersion: Int
    public var payload: EventPayload

    public var type: EventType { payload.type }

    public init(eventID: String, occurredAt: Timestamp, schemaVersion: Int = 1, payload: EventPayload) {
        self.eventID = eventID
        self.occurredAt = occurredAt
        self.schemaVersion = schemaVersion
        self.payload = payload
    }
}
