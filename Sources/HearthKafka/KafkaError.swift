/// An error from the Kafka layer. `description` is safe to show a user.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "Kafka \(code): \(message)" }
}
