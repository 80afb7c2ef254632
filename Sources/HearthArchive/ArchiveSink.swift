import Foundation
import HearthKafka
import HearthPipeline
import HearthSupport

/// The archive sink of one pipeline: every record of its topics, invalid ones included (marked), goes into
/// the shared archive store. A record counts as applied once it is in an open segment; the stored position
/// (the manifest) moves when the segment is written, and the runtime re-reads from there after a crash.
public final class ArchiveSink: Sink {
    public let name = "archive"
    public let store: ArchiveStore
    private let topics: Set<String>

    public init(store: ArchiveStore, topics: [String]) {
        self.store = store
        self.topics = Set(topics)
    }

    public func positions(pipeline: String, partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let store = store
        return try await Blocking.run { try store.positions(partitions) }
    }

    public func apply(_ batch: SinkBatch) async throws {
        guard !batch.records.isEmpty else { return }
        let encoded = EncodedBatch(batch.records)
        try await store.waitForRoom(encoded.lines.count)
        try store.append(batch, encoded)
    }

    public func isReachable() async -> Bool { store.healthy }

    /// Writes this pipeline's open segments (a graceful stop loses nothing and leaves nothing to re-read).
    public func close() async throws {
        let store = store, topics = topics
        try await Blocking.run { try store.flush(store.partitions(of: topics), timeout: .seconds(120)) }
    }
}
