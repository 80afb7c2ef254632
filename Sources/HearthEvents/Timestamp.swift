import Foundation

/// An RFC 3339 instant: milliseconds since the Unix epoch, plus the UTC offset it was written with.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var epochMillis: Int64
    /// The offset from UTC, in seconds, that the producer wrote (kept for display only).
    public var offsetSeconds: Int32

    public init(epochMillis: Int64, offsetSeconds: Int32 = 0) {
        self.epochMillis = epochMillis
        self.offsetSeconds = offsetSeconds
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.epochMillis < b.epochMillis }

    /// Two timestamps are equal when they name the same instant, whatever offset they were written with.
    public static func == (a: Timestamp, b: Timestamp) -> Bool { a.epochMillis == b.epochMillis }

    public func hash(into hasher: inout Hasher) { hasher.combine(epochMillis) }

    /// Parses `2026-11-22T18:04:05.123Z` or `2026-11-22T23:34:05+05:30` (fraction optional). Returns nil when malformed.
    public init?(rfc3339 text: String) {
        var text = text
        let parsed = text.withUTF8 { Timestamp.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Timestamp? {
        guard bytes.count >= 20, bytes.count <= 40 else { return nil }
        func digits(_ at: Int, _ count: Int) -> Int? {
            var v = 0
            for i in at..<(at + count) {
                guard i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 else { return nil }
                v = v * 10 + Int(bytes[i] - 48)
            }
            return v
        }
        guard let year = digits(0, 4), bytes[4] == 45, let month = digits(5, 2), bytes[7] == 45,
              let day = digits(8, 2), bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32,
              let hour = digits(11, 2), bytes[13] == 58, let minute = digits(14, 2), bytes[16] == 58,
              let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Timestamp.daysInMonth(year, month),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var i = 19
        var millis = 0
        if i < bytes.count, bytes[i] == 46 {
            i += 1
            var n = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                if n < 3 { millis = millis * 10 + Int(bytes[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<max(n, 3) { millis *= 10 }
        }
        guard i < bytes.count else { return nil }
        var offset = 0
        switch bytes[i] {
        case 90, 122: // Z z
            guard i + 1 == bytes.count else { return nil }
        case 43, 45: // + -
            guard i + 6 == bytes.count, let oh = digits(i + 1, 2), bytes[i + 3] == 58, let om = digits(i + 4, 2),
                  oh <= 23, om <= 59
            else { return nil }
            offset = (oh * 3600 + om * 60) * (bytes[i] == 45 ? -1 : 1)
        default:
            return nil
        }
        let days = Timestamp.daysFromCivil(year, month, day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offset)
        return Timestamp(epochMillis: seconds * 1000 + Int64(millis), offsetSeconds: Int32(offset))
    }

    /// The current instant.
    public static var now: Timestamp { Timestamp(epochMillis: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T18:04:05.123Z`.
    public var description: String { formatted(offsetSeconds: 0) }

    /// RFC 3339 at the given UTC offset.
    public func formatted(offsetSeconds: Int) -> String {
        let local = epochMillis + Int64(offsetSeconds) * 1000
        let secs = local.floorDiv(1000)
        let ms = Int(local - secs * 1000)
        let days = secs.floorDiv(86_400)
        let sod = Int(secs - days * 86_400)
        let (y, m, d) = Timestamp.civilFromDays(Int(days))
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(sod / 3600, 2)):\(pad(sod / 60 % 60, 2)):\(pad(sod % 60, 2)).\(pad(ms, 3))"
        if offsetSeconds == 0 {
            out += "Z"
        } else {
            let a = abs(offsetSeconds)
            out += (offsetSeconds < 0 ? "-" : "+") + "\(pad(a / 3600, 2)):\(pad(a / 60 % 60, 2))"
        }
        return out
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

extension Int64 {
    /// Division rounding toward negative infinity.
    public func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
