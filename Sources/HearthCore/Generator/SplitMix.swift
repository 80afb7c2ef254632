import Foundation

/// A small, fast, seedable PRNG (SplitMix64): the same seed gives the same stream everywhere.
struct SplitMix: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func chance(_ p: Double) -> Bool { unit() < p }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self)] }

    /// An exponentially distributed value with the given mean.
    mutating func exponential(mean: Double) -> Double { -mean * Foundation.log(max(1 - unit(), .leastNormalMagnitude)) }

    /// A UUID-shaped identifier.
    mutating func uuid() -> String {
        let a = next(), b = next()
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, digits - s.count)) + s.suffix(digits)
        }
        return "\(hex(a >> 32, 8))-\(hex((a >> 16) & 0xFFFF, 4))-4\(hex(a & 0xFFF, 3))-\(hex(0x8000 | (b >> 48) & 0x3FFF, 4))-\(hex(b & 0xFFFF_FFFF_FFFF, 12))"
    }
}

/// Samples ranks 0..<n with probability proportional to 1 / (rank + 1)^s.
struct Zipf: Sendable {
    private let cumulative: [Double]

    init(count: Int, exponent s: Double = 1.07) {
        var c: [Double] = []
        c.reserveCapacity(count)
        var total = 0.0
        for k in 1...max(count, 1) {
            total += 1 / pow(Double(k), s)
            c.append(total)
        }
        cumulative = c.map { $0 / total }
    }

    func sample(_ rng: inout SplitMix) -> Int {
        let u = rng.unit()
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

