@testable import HearthEvents
import Testing

/// The event decoder's own JSON reader: strict, and exact on strings and integers.
@Suite struct JSONReaderTests {
    func parse(_ text: String) -> JSONValue? {
        guard let tape = try? JSONTape(parsing: Array(text.utf8)) else { return nil }
        return JSONValue(tape, 0)
    }

    func string(_ text: String) -> String? {
        if case .string(let s)? = parse(text) { return s }
        return nil
    }

    @Test func stringsWithEscapesAndUnicode() {
        #expect(string(#""plain""#) == "plain")
        #expect(string(#""a\"b\\c\/d\n\t""#) == "a\"b\\c/d\n\t")
        #expect(string(#""caf\u00e9 \ud83c\udf55""#) == "café 🍕")
        #expect(string("\"São Paulo 🍕\"") == "São Paulo 🍕")
        #expect(parse(#""\ud83c""#) == nil, "lone surrogate")
        #expect(parse(#""\x""#) == nil, "unknown escape")
        #expect(parse("\"tab\there\"") == nil, "raw control character")
        #expect(parse(#""unterminated"#) == nil)
    }

    @Test func everyPositionOfALongStringIsChecked() {
        // Strings are scanned eight bytes at a time: a quote, backslash or control byte at any offset counts.
        let base = Array(repeating: "a", count: 20)
        for at in 0..<20 {
            var raw = base
            raw[at] = "\t"
            #expect(parse("\"" + raw.joined() + "\"") == nil, "raw tab at \(at)")
            var escaped = base
            escaped[at] = #"\""#
            var plain = base
            plain[at] = "\""
            #expect(string("\"" + escaped.joined() + "\"") == plain.joined(), "escaped quote at \(at)")
            var multibyte = base
            multibyte[at] = "é"
            #expect(string("\"" + multibyte.joined() + "\"") == multibyte.joined(), "two-byte character at \(at)")
            #expect(parse("\"" + base.prefix(at).joined()) == nil, "unterminated after \(at)")
        }
        guard case .object(let fields)? = parse(#"{"\u0061b":1,"ab":2}"#) else { Issue.record("not an object"); return }
        #expect(fields.map(\.0) == ["ab", "ab"], "an escaped key reads as its text")
    }

    @Test func numbersKeepIntegersExact() {
        guard case .number(let i, _)? = parse("9223372036854775807") else { Issue.record("not a number"); return }
        #expect(i == Int64.max)
        guard case .number(let big, let d)? = parse("9223372036854775808") else { Issue.record("not a number"); return }
        #expect(big == nil && d == 9_223_372_036_854_775_808)
        guard case .number(let neg, _)? = parse("-42") else { Issue.record("not a number"); return }
        #expect(neg == -42)
        guard case .number(let frac, let f)? = parse("1098.5") else { Issue.record("not a number"); return }
        #expect(frac == nil && f == 1098.5)
        guard case .number(let e, let ed)? = parse("1e3") else { Issue.record("not a number"); return }
        #expect(e == nil && ed == 1000)
        for bad in ["01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity"] {
            #expect(parse(bad) == nil, "\(bad) is not JSON")
        }
    }

    @Test func structureIsStrict() {
        guard case .object(let fields)? = parse(#" { "a" : [1, true, null, {"b": "c"}] , "d": false } "#) else {
            Issue.record("not an object"); return
        }
        #expect(fields.map(\.0) == ["a", "d"])
        for bad in ["{", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{\"a\":1} x", "{a:1}", "", "tru", "[1 2]"] {
            #expect(parse(bad) == nil, "\(bad) is not JSON")
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(parse(deep) == nil, "nesting is bounded")
        let fine = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(parse(fine) != nil)
    }
}

/// A parse as a tree, to compare with what is expected.
enum JSONValue {
    case null
    case bool(Bool)
    case number(integer: Int64?, double: Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    init(_ tape: JSONTape, _ node: Int) {
        let n = tape.nodes[node]
        switch n.kind {
        case .null: self = .null
        case .bool: self = .bool(n.flag)
        case .integer: self = .number(integer: n.number, double: Double(n.number))
        case .double: self = .number(integer: nil, double: Double(bitPattern: UInt64(bitPattern: n.number)))
        case .string: self = .string(tape.string(node))
        case .array: self = .array(tape.elements(node).map { JSONValue(tape, $0) })
        case .object: self = .object(tape.members(node).map { ($0.0, JSONValue(tape, $0.1)) })
        }
    }
}

extension JSONTape {
    /// The keys and value nodes of the object at `object`, in order.
    func members(_ object: Int) -> [(String, Int)] {
        var out: [(String, Int)] = []
        var i = object + 1
        while i < Int(nodes[object].end) {
            out.append((string(i), i + 1))
            i = Int(nodes[i + 1].end)
        }
        return out
    }
}

extension JSONValue: Equatable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let i, let d), .number(let j, let e)): i == j && d == e
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}
