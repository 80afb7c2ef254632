import CXapian

/// An error Xapian reported (every C++ exception is caught in CXapian).
public struct XapianError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "search index error: \(message)" }

    /// The revision a reader was reading has been discarded by the writer: reopen and retry.
    var isRevisionDiscarded: Bool { message.hasPrefix("DatabaseModifiedError") }

    /// Another writer holds the directory's write lock.
    var isLocked: Bool { message.hasPrefix("DatabaseLockError") }

    /// Takes ownership of a CXapian error string.
    static func take(_ err: UnsafeMutablePointer<CChar>?) -> XapianError {
        defer { hx_free(err) }
        return XapianError(message: err.map { String(cString: $0) } ?? "unknown error")
    }
}

/// Calls a CXapian function that returns 0 on success, throwing its error otherwise.
func check(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32) throws(XapianError) {
    var err: UnsafeMutablePointer<CChar>?
    if body(&err) != 0 { throw XapianError.take(err) }
}
