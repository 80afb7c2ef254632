import Foundation
import HearthAnalytics
import HearthArchive

/// Writes aggregate partitions that expire to `<archive>/aggregates/<table>/<partition>.jsonl.zst`
/// (one JSON object per row) before the analytics sink drops them.
public struct AggregateArchiver: ExpiringPartitionArchiver {
    public let layout: ArchiveLayout
    public init(layout: ArchiveLayout) { self.layout = layout }

    public func path(table: String, partition: String) -> String {
        layout.root.appendingPathComponent("aggregates/\(table)/\(partition).jsonl.zst").path
    }

    public func begin(table: String, partition: String) throws -> any ExpiringPartitionWriter {
        Writer(file: try CompressedLinesFile(path: path(table: table, partition: partition)))
    }

    struct Writer: ExpiringPartitionWriter {
        let file: CompressedLinesFile
        func write(_ rows: [String]) throws { try file.write(rows) }
        func commit() throws { try file.commit() }
    }
}
