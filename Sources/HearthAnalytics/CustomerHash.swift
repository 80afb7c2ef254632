/// The hash the `hll` extension gives a text value (`hll_hash_text(value)`, seed 0): the first 64 bits of
/// MurmurHash3 x64-128 of its UTF-8 bytes. The sink hashes customer ids here and sends the hashes
/// (`::hll_hashval`), so a batch's customers travel as numbers, each rollup level unites sets of numbers
/// rather than of strings, and the sketches stay mergeable with those built from the text.
enum CustomerHash {
    static func of(_ text: String) -> Int64 {
        var text = text
        return text.withUTF8 { murmur3(UnsafeRawBufferPointer($0)) }
    }

    static func murmur3(_ data: UnsafeRawBufferPointer, seed: UInt64 = 0) -> Int64 {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5, c2: UInt64 = 0x4cf5_ad43_2745_937f
        var h1 = seed, h2 = seed
        let blocks = data.count / 16
        func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
        func fmix(_ k: UInt64) -> UInt64 {
            var k = k
            k ^= k >> 33
            k = k &* 0xff51_afd7_ed55_8ccd
            k ^= k >> 33
            k = k &* 0xc4ce_b9fe_1a85_ec53
            k ^= k >> 33
            return k
        }
        for i in 0..<blocks {
            var k1 = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self))
            var k2 = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self))
            k1 = k1 &* c1; k1 = rotl(k1, 31); k1 = k1 &* c2; h1 ^= k1
            h1 = rotl(h1, 27); h1 = h1 &+ h2; h1 = h1 &* 5 &+ 0x52dc_e729
            k2 = k2 &* c2; k2 = rotl(k2, 33); k2 = k2 &* c1; h2 ^= k2
            h2 = rotl(h2, 31); h2 = h2 &+ h1; h2 = h2 &* 5 &+ 0x3849_5ab5
        }
        let tail = blocks * 16, rest = data.count & 15
        var k1: UInt64 = 0, k2: UInt64 = 0
        if rest > 8 {
            for j in stride(from: rest - 1, through: 8, by: -1) { k2 ^= UInt64(data[tail + j]) << UInt64((j - 8) * 8) }
            k2 = k2 &* c2; k2 = rotl(k2, 33); k2 = k2 &* c1; h2 ^= k2
        }
        if rest > 0 {
            for j in stride(from: min(rest, 8) - 1, through: 0, by: -1) { k1 ^= UInt64(data[tail + j]) << UInt64(j * 8) }
            k1 = k1 &* c1; k1 = rotl(k1, 31); k1 = k1 &* c2; h1 ^= k1
        }
        h1 ^= UInt64(data.count); h2 ^= UInt64(data.count)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        h1 = fmix(h1); h2 = fmix(h2)
        h1 = h1 &+ h2
        return Int64(bitPattern: h1)
    }
}
