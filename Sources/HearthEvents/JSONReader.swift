/// A small, strict JSON reader for event records. It parses a UTF-8 text into one flat array of
/// nodes over the text's bytes (a tape): no `String` is made for a key, and a string value becomes a
/// `String` only when it is read. Far cheaper than `JSONDecoder`, and than a tree of values, on the
/// ingest path, where decoding had been a fifth of Hearth's CPU.
final class JSONTape: Sendable {
    enum Kind: UInt8, Sendable {
        case null, bool, integer, double, string, array, object

        var typeName: String {
            switch self {
            case .null: "null"
            case .bool: "a boolean"
            case .integer, .double: "a number"
            case .string: "a string"
            case .array: "an array"
            case .object: "an object"
            }
        }
    }

    /// One value. Containers are followed by their contents (an object's as key, value, key, value …).
    struct Node: Sendable {
        var kind: Kind
        /// `bool`: its value. `string`: whether it had escapes (its text is then `unescaped[start]`).
        var flag = false
        /// `string`: the first byte after the opening quote, or the index into `unescaped`.
        var start: Int32 = 0
        /// `string`: its length in bytes. `array`, `object`: how many elements or keys it has.
        var count: Int32 = 0
        /// The index just past this node and everything it contains.
        var end: Int32 = 0
        /// `integer`: its value. `double`: its bit pattern.
        var number: Int64 = 0
    }

    let bytes: [UInt8]
    let nodes: [Node]
    /// The decoded text of strings with escapes (rare in records).
    let unescaped: [String]

    struct Failure: Error {}

    /// Nesting deeper than this is refused (bounded recursion on hostile input).
    static let maxDepth = 64

    /// Parses `bytes`, which must already be known to be valid UTF-8.
    init(parsing bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        var nodes: [Node] = []
        var unescaped: [String] = []
        try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) in
            var cursor = Cursor(bytes: buffer)
            // About one node per 6 bytes in event records.
            cursor.nodes.reserveCapacity(max(16, buffer.count / 6))
            try cursor.value(depth: 0)
            cursor.skipSpace()
            guard cursor.index == buffer.count else { throw Failure() }
            nodes = cursor.nodes
            unescaped = cursor.unescaped
        }
        self.nodes = nodes
        self.unescaped = unescaped
    }

    // MARK: Reading

    /// The string at `node` (which must be a string node).
    func string(_ node: Int) -> String {
        let n = nodes[node]
        if n.flag { return unescaped[Int(n.start)] }
        return bytes.withUnsafeBufferPointer { b in
            String(decoding: UnsafeBufferPointer(rebasing: b[Int(n.start)..<Int(n.start + n.count)]), as: UTF8.self)
        }
    }

    /// The value of `key` in the object at `object`, if present (the first, if the key repeats).
    func member(_ object: Int, _ key: String) -> Int? {
        var key = key
        return key.withUTF8 { k in
            nodes.withUnsafeBufferPointer { nodes in
                bytes.withUnsafeBufferPointer { b in
                    var i = object + 1
                    let end = Int(nodes[object].end)
                    while i < end {
                        let n = nodes[i]
                        if n.flag {
                            if unescaped[Int(n.start)].utf8.elementsEqual(k) { return i + 1 }
                        } else if Int(n.count) == k.count,
                                  k.isEmpty || bytesEqual(b.baseAddress! + Int(n.start), k.baseAddress!, k.count) {
                            return i + 1
                        }
                        i = Int(nodes[i + 1].end)
                    }
                    return nil
                }
            }
        }
    }

    /// The nodes of the elements of the array at `array`.
    func elements(_ array: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(Int(nodes[array].count))
        var i = array + 1
        let end = Int(nodes[array].end)
        while i < end {
            out.append(i)
            i = Int(nodes[i].end)
        }
        return out
    }

    // MARK: Parsing

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var nodes: [Node] = []
        var unescaped: [String] = []
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        /// Appends a leaf node that ends right after itself.
        mutating func leaf(_ node: Node) {
            var node = node
            node.end = Int32(nodes.count + 1)
            nodes.append(node)
        }

        mutating func value(depth: Int) throws(Failure) {
            guard depth < JSONTape.maxDepth else { throw Failure() }
            skipSpace()
            guard index < bytes.count else { throw Failure() }
            switch bytes[index] {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true"); leaf(Node(kind: .bool, flag: true))
            case UInt8(ascii: "f"): try literal("false"); leaf(Node(kind: .bool, flag: false))
            case UInt8(ascii: "n"): try literal("null"); leaf(Node(kind: .null))
            default: try number()
            }
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let n = word.utf8CodeUnitCount
            guard index + n <= bytes.count else { throw Failure() }
            for i in 0..<n where bytes[index + i] != word.utf8Start[i] { throw Failure() }
            index += n
        }

        /// Appends a container's node, its contents through `body`, then sets its count and end.
        mutating func container(_ kind: Kind, _ body: (inout Cursor) throws(Failure) -> Int32) throws(Failure) {
            let at = nodes.count
            nodes.append(Node(kind: kind))
            index += 1
            let count = try body(&self)
            nodes[at].count = count
            nodes[at].end = Int32(nodes.count)
        }

        mutating func object(depth: Int) throws(Failure) {
            try container(.object) { (c) throws(Failure) -> Int32 in
                var count: Int32 = 0
                c.skipSpace()
                if c.index < c.bytes.count, c.bytes[c.index] == UInt8(ascii: "}") { c.index += 1; return 0 }
                while true {
                    c.skipSpace()
                    guard c.index < c.bytes.count, c.bytes[c.index] == UInt8(ascii: "\"") else { throw Failure() }
                    try c.string()
                    c.skipSpace()
                    guard c.index < c.bytes.count, c.bytes[c.index] == UInt8(ascii: ":") else { throw Failure() }
                    c.index += 1
                    try c.value(depth: depth + 1)
                    count += 1
                    c.skipSpace()
                    guard c.index < c.bytes.count else { throw Failure() }
                    if c.bytes[c.index] == UInt8(ascii: ",") { c.index += 1; continue }
                    if c.bytes[c.index] == UInt8(ascii: "}") { c.index += 1; return count }
                    throw Failure()
                }
            }
        }

        mutating func array(depth: Int) throws(Failure) {
            try container(.array) { (c) throws(Failure) -> Int32 in
                var count: Int32 = 0
                c.skipSpace()
                if c.index < c.bytes.count, c.bytes[c.index] == UInt8(ascii: "]") { c.index += 1; return 0 }
                while true {
                    try c.value(depth: depth + 1)
                    count += 1
                    c.skipSpace()
                    guard c.index < c.bytes.count else { throw Failure() }
                    if c.bytes[c.index] == UInt8(ascii: ",") { c.index += 1; continue }
                    if c.bytes[c.index] == UInt8(ascii: "]") { c.index += 1; return count }
                    throw Failure()
                }
            }
        }

        /// A string starting at the opening quote: a node over its bytes, or, with escapes, over its
        /// decoded text in `unescaped`.
        mutating func string() throws(Failure) {
            index += 1
            let start = index
            // Fast path: no escapes. Eight bytes at a time while none is a quote, a backslash or a
            // control character, then byte by byte.
            let raw = UnsafeRawPointer(bytes.baseAddress!)
            while index + 8 <= bytes.count {
                let w = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
                let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
                let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w)
                if special & highs != 0 { break }
                index += 8
            }
            while index < bytes.count {
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    leaf(Node(kind: .string, start: Int32(start), count: Int32(index - start)))
                    index += 1
                    return
                }
                if b == UInt8(ascii: "\\") { break }
                if b < 0x20 { throw Failure() }
                index += 1
            }
            var out = Array(bytes[start..<index])
            while index < bytes.count {
                let b = bytes[index]
                switch b {
                case UInt8(ascii: "\""):
                    index += 1
                    leaf(Node(kind: .string, flag: true, start: Int32(unescaped.count)))
                    unescaped.append(String(decoding: out, as: UTF8.self))
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw Failure() }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { throw Failure() }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw Failure() }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw Failure()
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw Failure() }
                        out.append(contentsOf: UTF8.encode(u)!)
                    default:
                        throw Failure()
                    }
                default:
                    if b < 0x20 { throw Failure() }
                    out.append(b)
                    index += 1
                }
            }
            throw Failure()
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard index + 4 <= bytes.count else { throw Failure() }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw Failure()
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        /// A number: an `integer` node when it has no fraction or exponent and fits in Int64, else `double`.
        mutating func number() throws(Failure) {
            let start = index
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
            let intStart = index
            var magnitude: UInt64 = 0
            var overflow = false
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(bytes[index] - 0x30))
                overflow = overflow || o1 || o2
                magnitude = m2
                index += 1
            }
            let digits = index - intStart
            guard digits > 0, !(digits > 1 && bytes[intStart] == 0x30) else { throw Failure() }
            var integral = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                let f = index
                while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                guard index > f else { throw Failure() }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let e = index
                while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                guard index > e else { throw Failure() }
            }
            var integer: Int64?
            if integral, !overflow {
                if negative { if magnitude <= UInt64(Int64.max) + 1 { integer = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude) } }
                else if magnitude <= UInt64(Int64.max) { integer = Int64(magnitude) }
            }
            if let integer { return leaf(Node(kind: .integer, number: integer)) }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let double = Double(text), double.isFinite else { throw Failure() }
            leaf(Node(kind: .double, number: Int64(bitPattern: double.bitPattern)))
        }
    }
}

/// Whether `count` bytes at `a` and `b` are equal.
@inline(__always)
private func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i + 8 <= count {
        if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) { return false }
        i += 8
    }
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
