import ArgumentParser
import Foundation
import HearthCore
import HearthEvents
import HearthSupport

/// Decoding alone: the generator's order records through `EventCodec`, in memory, without Kafka or sinks.
struct BenchDecode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode and validate generated order records in memory and print records/s (one thread).")
    @Option(help: "Order records to decode per round.") var records: Int = 200_000
    @Option(help: "Rounds (the best and the median are printed).") var rounds: Int = 5
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() async throws {
        Bootstrap.start(logLevel: "error")
        guard (1000...2_000_000).contains(records) else { throw fail("--records must be 1000 to 2000000") }
        guard (1...100).contains(rounds) else { throw fail("--rounds must be 1 to 100") }
        var generator = EventGenerator(config: BenchIngest.stream)
        var values: [[UInt8]] = []
        values.reserveCapacity(records)
        var bytes = 0
        while values.count < records {
            let r = generator.next()
            guard r.topic == "orders" else { continue }
            values.append(r.value)
            bytes += r.value.count
        }
        let codec = EventCodec()
        var seconds: [Double] = []
        var valid = 0
        for _ in 0..<rounds {
            valid = 0
            let start = ContinuousClock.now
            for value in values {
                if (try? codec.decode(value, topic: "orders")) != nil { valid += 1 }
            }
            seconds.append((ContinuousClock.now - start).seconds)
        }
        seconds.sort()
        let best = Double(records) / seconds[0], median = Double(records) / seconds[seconds.count / 2]
        let result = DecodeResult(records: records, valid: valid, bytes: bytes, rounds: rounds,
                                  best_records_per_second: best, median_records_per_second: median,
                                  median_mb_per_second: Double(bytes) / seconds[seconds.count / 2] / 1e6)
        if json {
            say(try jsonLine(result))
        } else {
            say("""
                records              \(records) (\(valid) valid, \(bytes / records) bytes on average)
                decoded, best        \(Int(best)) records/s
                decoded, median      \(Int(median)) records/s (\(String(format: "%.1f", result.median_mb_per_second)) MB/s)
                """)
        }
    }

    struct DecodeResult: Encodable {
        let records: Int
        let valid: Int
        let bytes: Int
        let rounds: Int
        let best_records_per_second: Double
        let median_records_per_second: Double
        let median_mb_per_second: Double
    }
}
