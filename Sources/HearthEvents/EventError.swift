/// Why a record is not a valid event of the contract.
///
/// `code` is a short, stable machine code (it becomes the dead-letter header
/// `__connect.errors.exception.class.name`); `message` is one readable line.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stage that rejected the record, as named in the dead-letter headers.
    public enum Stage: String, Sendable { case decode, validate, apply }

    public let stage: Stage
    public let code: String
    public let message: String

    public init(_ stage: Stage, _ code: String, _ message: String) {
        self.stage = stage
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func decode(_ code: String, _ message: String) -> EventError { EventError(.decode, code, message) }
    static func invalid(_ code: String, _ message: String) -> EventError { EventError(.validate, code, message) }
}
