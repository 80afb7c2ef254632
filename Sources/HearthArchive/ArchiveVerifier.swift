import Foundation

/// The outcome of `hearth archive verify`.
public struct VerifyReport: Sendable, Codable, Equatable {
    public var segments = 0
    public var records = 0
    public var bytes = 0
    public var partitions = 0
    /// Each problem found, as one line; empty when the archive is sound.
    public var problems: [String] = []
    public var ok: Bool { problems.isEmpty }
}

/// Checks the whole archive: the manifest reads; every segment exists, has the recorded size and SHA-256,
/// decompresses, holds exactly the recorded records and offsets and times; per partition the segments
/// follow on from each other with no gap and no overlap; and no segment file is missing from the manifest.
public enum ArchiveVerifier {
    public static func verify(_ layout: ArchiveLayout, progress: ((Int, Int) -> Void)? = nil) -> VerifyReport {
        var report = VerifyReport()
        let root = layout.root.path
        guard FileManager.default.fileExists(atPath: root) else {
            report.problems.append("\(root): no archive here")
            return report
        }
        let entries: [SegmentEntry]
        do {
            entries = try Manifest.read(layout.manifestPath).entries
        } catch {
            report.problems.append("\(error)")
            return report
        }
        var byPartition: [String: [SegmentEntry]] = [:]
        for (i, e) in entries.enumerated() {
            progress?(i, entries.count)
            report.segments += 1
            report.records += e.records
            report.bytes += e.bytes
            byPartition["\(e.topic)[\(e.partition)]", default: []].append(e)
            let name = (e.path as NSString).lastPathComponent
            guard let parsed = ArchiveLayout.parseSegmentName(name), parsed.topic == e.topic, parsed.partition == e.partition,
                  parsed.first == e.firstOffset, parsed.last == e.lastOffset, e.path.hasPrefix("\(e.topic)/date=") else {
                report.problems.append("\(e.path): the name does not match its manifest entry")
                continue
            }
            let full = root + "/" + e.path
            guard let size = POSIX.fileSize(full) else {
                report.problems.append("\(e.path): missing")
                continue
            }
            if size != e.bytes { report.problems.append("\(e.path): \(size) bytes, the manifest says \(e.bytes)") }
            do {
                let scan = try SegmentScan(path: full)
                if scan.sha256 != e.sha256 { report.problems.append("\(e.path): SHA-256 \(scan.sha256) differs from the manifest's") }
                if scan.records != e.records { report.problems.append("\(e.path): \(scan.records) records, the manifest says \(e.records)") }
                if scan.firstOffset != e.firstOffset || scan.lastOffset != e.lastOffset {
                    report.problems.append("\(e.path): holds offsets \(scan.firstOffset)-\(scan.lastOffset)")
                }
                if scan.deadLetters != e.deadLetters { report.problems.append("\(e.path): \(scan.deadLetters) dead letters, the manifest says \(e.deadLetters)") }
                if ArchiveTime.string(scan.minTime) != e.minEventTime || ArchiveTime.string(scan.maxTime) != e.maxEventTime {
                    report.problems.append("\(e.path): event times differ from the manifest's")
                }
                if scan.uncompressedBytes != e.uncompressedBytes {
                    report.problems.append("\(e.path): \(scan.uncompressedBytes) bytes of JSON Lines, the manifest says \(e.uncompressedBytes)")
                }
            } catch {
                report.problems.append("\(error)")
            }
        }
        report.partitions = byPartition.count
        for (tp, list) in byPartition.sorted(by: { $0.key < $1.key }) {
            let sorted = list.sorted { $0.startOffset < $1.startOffset }
            for (i, e) in sorted.enumerated() {
                if e.firstOffset < e.startOffset || e.lastOffset < e.firstOffset {
                    report.problems.append("\(tp): segment \(e.path) starts at \(e.startOffset) but holds \(e.firstOffset)-\(e.lastOffset)")
                }
                guard i > 0 else { continue }
                let prev = sorted[i - 1]
                if e.startOffset > prev.endOffset {
                    report.problems.append("\(tp): gap between offsets \(prev.lastOffset) and \(e.startOffset)")
                } else if e.startOffset < prev.endOffset {
                    report.problems.append("\(tp): \(e.path) overlaps \(prev.path)")
                }
            }
        }
        // Segment files the manifest does not know (a crash between rename and manifest is repaired at start).
        let known = Set(entries.map(\.path))
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let rel = walker.nextObject() as? String {
                guard !rel.hasPrefix("exports/"), ArchiveLayout.parseSegmentName((rel as NSString).lastPathComponent) != nil,
                      !known.contains(rel) else { continue }
                report.problems.append("\(rel): not in the manifest")
            }
        }
        return report
    }

    /// The manifest's entries, read without changing anything (for readers in other processes).
    public static func entries(_ layout: ArchiveLayout) throws -> [SegmentEntry] {
        try Manifest.read(layout.manifestPath).entries
    }
}
