import Foundation
import HearthKafka
import ServiceLifecycle

/// Produces a generated stream to Kafka at a steady rate until stopped or `count` records are sent.
public final class GeneratorService: Service, Sendable {
    let brokers: String
    let config: GeneratorConfig
    let rate: Int
    let count: Int?

    /// - Parameters:
    ///   - rate: records per second (0: as fast as the producer allows).
    ///   - count: total records, nil for unbounded.
    public init(brokers: String, config: GeneratorConfig, rate: Int, count: Int?) {
        self.brokers = brokers
        self.config = config
        self.rate = rate
        self.count = count
    }

    /// Producer settings suited to the development cluster (which keeps ~5 MiB per partition uncompressed).
    public static func makeProducer(brokers: String) throws -> KafkaProducer {
        try KafkaProducer(brokers: brokers, properties: ["compression.type": "zstd", "message.max.bytes": "4000000"])
    }

    public func run() async throws {
        let producer = try Self.makeProducer(brokers: brokers)
        var generator = EventGenerator(config: config)
        _ = try await Self.produce(&generator, producer: producer, rate: rate, count: count)
        await producer.close()
    }

    /// Produces records in chunks, pacing to `rate`, until `count` or cancellation/shutdown. Returns the number sent.
    /// `observe` sees every record before it is sent (tests use it to note what they expect).
    public static func produce(_ generator: inout EventGenerator, producer: KafkaProducer, rate: Int, count: Int?,
                               progress: (@Sendable (Int) -> Void)? = nil,
                               observe: (GeneratedRecord) -> Void = { _ in }) async throws -> Int {
        var sent = 0
        let started = ContinuousClock.now
        let chunk = rate > 0 ? max(1, min(rate / 10, 5000)) : 5000
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let n = count.map { min(chunk, $0 - sent) } ?? chunk
            if n <= 0 { break }
            var records: [KafkaRecord] = []
            records.reserveCapacity(n)
            for _ in 0..<n {
                let r = generator.next()
                observe(r)
                records.append(KafkaRecord(topic: r.topic, key: r.key, value: r.value, timestampMillis: r.timestampMillis))
            }
            try await producer.send(records)
            sent += n
            progress?(sent)
            if rate > 0 {
                let due = started + .milliseconds(sent * 1000 / rate)
                if due > .now { try? await Task.sleep(until: due) }
            }
        }
        return sent
    }
}
