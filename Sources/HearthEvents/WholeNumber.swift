/// A whole number as text (query and report parameters): an optional sign and ASCII digits. Tells a number
/// too long for 64 bits, which is out of range like any other, from text that is not a whole number at all.
public enum WholeNumber: Equatable, Sendable {
    case value(Int)
    /// Digits, but beyond `Int`; `negative` tells which end.
    case outOfRange(negative: Bool)
    case notANumber

    public init(_ text: some StringProtocol) {
        var digits = Substring(text)
        if let sign = digits.first, sign == "+" || sign == "-" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            self = .notANumber
            return
        }
        if let n = Int(text) { self = .value(n) } else { self = .outOfRange(negative: text.first == "-") }
    }
}
