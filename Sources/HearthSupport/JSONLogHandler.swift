import Foundation
import Logging
import Synchronization

/// One JSON object per log line on standard error: `ts`, `level`, `logger`, `message`, then the
/// metadata (`request_id` among it for lines written while serving a request).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private static let lock = Mutex(())

    public init(label: String, level: Logger.Level) {
        self.label = label
        logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(level: event.level, message: event.message, metadata: event.metadata)
    }

    private func write(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?) {
        var fields: [String: String] = [:]
        for (k, v) in metadata { fields[k] = "\(v)" }
        for (k, v) in explicit ?? [:] { fields[k] = "\(v)" }
        var out = "{\"ts\":\(Self.quote(Self.timestamp())),\"level\":\(Self.quote(level.rawValue)),\"logger\":\(Self.quote(label)),"
            + "\"message\":\(Self.quote(message.description))"
        for key in fields.keys.sorted() where !["ts", "level", "logger", "message"].contains(key) {
            out += ",\(Self.quote(key)):\(Self.quote(fields[key]!))"
        }
        out += "}\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(out.utf8)) }
    }

    static func timestamp() -> String {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        var tm = tm()
        var seconds = t.tv_sec
        gmtime_r(&seconds, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, Int(t.tv_nsec / 1_000_000))
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
