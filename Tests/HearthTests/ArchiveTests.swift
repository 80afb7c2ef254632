import Foundation
@testable import HearthArchive
import HearthCore
import HearthEvents
import HearthKafka
import HearthAnalytics
import HearthPipeline
import HearthPostgres
import Logging
import Testing

/// A generated stream as the archive sink sees it: records spread over partitions by key, with offsets.
struct ArchiveFixture {
    var records: [SinkRecord] = []
    /// What the generated stream must produce in the aggregates.
    var expected: ExpectedTotals

    /// `count` records of every topic, over `partitions` partitions per topic; event times start at `start`.
    init(count: Int, partitions: Int32 = 4, seed: UInt64 = 11, start: Timestamp = Timestamp(rfc3339: "2026-11-01T20:00:00Z")!,
         ordersPerMinute: Double = 2) {
        var config = IngestHarness.config(seed: seed, restaurants: 12, ordersPerMinute: ordersPerMinute)
        config.start = start
        var generator = EventGenerator(config: config)
        let codec = EventCodec()
        var next: [TopicPartition: Int64] = [:]
        for _ in 0..<count {
            let g = generator.next()
            let p = Int32(g.key.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) } % UInt32(partitions))
            let tp = TopicPartition(g.topic, p)
            let offset = next[tp, default: 0]
            next[tp] = offset + 1
            let record = KafkaRecord(topic: g.topic, partition: p, offset: offset, key: g.key, value: g.value,
                                     timestampMillis: g.timestampMillis, headers: [KafkaHeader("source", "generator")])
            let event: Result<Event, EventError>
            do { event = .success(try codec.decode(g.value, topic: g.topic)) } catch { event = .failure(error) }
            records.append(SinkRecord(record: record, event: event))
        }
        expected = generator.expected
    }

    var byPartition: [TopicPartition: [SinkRecord]] {
        Dictionary(grouping: records) { TopicPartition($0.record.topic, $0.record.partition) }
    }

    /// Applies every record through `sink` in batches of `batch`, each partition's in offset order.
    func feed(_ sink: ArchiveSink, batch: Int = 100) async throws {
        for (tp, list) in byPartition.sorted(by: { $0.key < $1.key }) {
            var position: Int64?
            for chunk in stride(from: 0, to: list.count, by: batch).map({ Array(list[$0..<min($0 + batch, list.count)]) }) {
                let next = chunk.last!.record.offset + 1
                try await sink.apply(SinkBatch(pipeline: "test", partition: tp, expectedPosition: position, nextOffset: next, records: chunk))
                position = next
            }
        }
    }

    /// The time each record is filed under (event time, else Kafka timestamp).
    static func time(_ r: SinkRecord) -> Int64 { ArchiveLine.time(r, now: 0) }
}

func archiveSettings(records: Int = 100_000, bytes: Int = 64 << 20, age: Double = 300, idle: Double = 30,
                     budget: Int = 256 << 20) -> ArchiveSettings {
    var s = ArchiveSettings()
    s.segmentRecords = records
    s.segmentBytes = bytes
    s.segmentAgeSeconds = age
    s.idleFlushSeconds = idle
    s.memoryBudgetBytes = budget
    return s
}

/// Reads every line of every segment of `topic` through the exporter.
func exportedLines(_ store: ArchiveStore, _ query: ArchiveQuery, format: ExportFormat = .jsonl) throws -> [UInt8] {
    let export = try ArchiveExport(layout: store.layout, entries: store.allEntries(), query: query, format: format)
    var out: [UInt8] = []
    try export.run { out += $0 }
    return out
}

func jsonLines(_ bytes: [UInt8]) throws -> [[String: Any]] {
    try bytes.split(separator: 0x0A).map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }
}

@Suite struct ArchiveTests {
    @Test func segmentsHoldExactlyTheRecordsAndStandardToolsReadThem() async throws {
        let fixture = ArchiveFixture(count: 6000)
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        let store = try ArchiveStore(layout: layout, settings: archiveSettings(records: 400), logger: testLogger)
        let topics = Set(fixture.records.map(\.record.topic))
        let sink = ArchiveSink(store: store, topics: Array(topics))
        try await fixture.feed(sink)
        try await sink.close()

        let report = ArchiveVerifier.verify(layout)
        #expect(report.ok, "\(report.problems.prefix(5))")
        #expect(report.records == fixture.records.count)
        let entries = store.allEntries()
        #expect(entries.allSatisfy { $0.records <= 400 }, "rotation by record count")
        #expect(entries.reduce(0) { $0 + $1.deadLetters } == fixture.records.count(where: { if case .failure = $0.event { true } else { false } }))
        // Segment paths are Hive-style by topic and date, named by partition and offsets.
        for e in entries {
            #expect(e.path.range(of: #"^[a-z.]+/date=\d{4}-\d{2}-\d{2}/[a-z.]+\+\d+\+\d+-\d+\.jsonl\.zst$"#, options: .regularExpression) != nil, "\(e.path)")
        }

        // The zstd CLI reads a segment; every line is JSON holding the record.
        let orders = fixture.byPartition[TopicPartition("orders", 1)]!
        let first = try #require(entries.filter { $0.topic == "orders" && $0.partition == 1 }.min { $0.firstOffset < $1.firstOffset })
        let (status, text) = try await runTool("/usr/bin/zstd", ["-dc", layout.root.appendingPathComponent(first.path).path])
        #expect(status == 0)
        let lines = try jsonLines(Array(text.utf8))
        #expect(lines.count == first.records)
        for (line, record) in zip(lines, orders) {
            #expect(line["topic"] as? String == "orders" && line["partition"] as? Int == 1)
            #expect((line["offset"] as? NSNumber)?.int64Value == record.record.offset)
            #expect(line["key"] as? String == String(decoding: record.record.key!, as: UTF8.self))
            #expect((line["headers"] as? [[String]]) == [["source", "generator"]])
            #expect(line["timestamp"] as? String == ArchiveTime.string(record.record.timestampMillis))
            switch record.event {
            case .success(let e):
                #expect(line["type"] as? String == e.payload.type.rawValue && line["event_id"] as? String == e.eventID)
                #expect(line["dead_letter"] is NSNull && line["value_format"] as? String == "json")
                let original = try JSONSerialization.jsonObject(with: Data(record.record.value)) as? NSDictionary
                #expect((line["value"] as? NSDictionary) == original)
            case .failure(let error):
                #expect(line["type"] is NSNull)
                #expect((line["dead_letter"] as? [String: Any])?["code"] as? String == error.code)
            }
        }
    }

    /// One compressing thread, and three (the writer and two helpers extending different segments' frames at once).
    @Test(arguments: [1, 3]) func largeSegmentsAreCompressedChunkByChunkAsTheyFill(threads: Int) async throws {
        // One partition per topic, so the orders segment grows past several chunks before it closes.
        let fixture = ArchiveFixture(count: 12_000, partitions: 1)
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        var settings = archiveSettings()
        settings.compressionThreads = threads
        let store = try ArchiveStore(layout: layout, settings: settings, logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"])
        for (tp, list) in fixture.byPartition {
            var position: Int64?
            for start in stride(from: 0, to: list.count, by: 200) {
                let chunk = Array(list[start..<min(start + 200, list.count)])
                try await sink.apply(SinkBatch(pipeline: "t", partition: tp, expectedPosition: position, nextOffset: chunk.last!.record.offset + 1, records: chunk))
                position = chunk.last!.record.offset + 1
                try await Task.sleep(for: .milliseconds(2))   // room for the writer to compress chunks meanwhile
            }
        }
        try await sink.close()
        let orders = try #require(store.allEntries().filter { $0.topic == "orders" }.max { $0.uncompressedBytes < $1.uncompressedBytes })
        #expect(orders.uncompressedBytes > 3 * ArchiveStore.chunkBytes, "\(orders.uncompressedBytes) bytes")
        #expect(store.compressedChunks >= 2, "chunks were compressed while the segments were open")
        let report = ArchiveVerifier.verify(layout)
        #expect(report.ok && report.records == fixture.records.count, "\(report.problems)")
        let (status, text) = try await runTool("/usr/bin/zstd", ["-dc", layout.root.appendingPathComponent(orders.path).path])
        #expect(status == 0)
        let lines = try jsonLines(Array(text.utf8))
        let produced = fixture.byPartition[TopicPartition("orders", 0)]!.filter { (orders.firstOffset...orders.lastOffset).contains($0.record.offset) }
        let same = lines.map { ($0["offset"] as? NSNumber)?.int64Value } == produced.map(\.record.offset)
        #expect(same, "the segment holds offsets \(orders.firstOffset)-\(orders.lastOffset) in order")
        #expect(lines.count == orders.records)
        // Compressed chunk by chunk, the frame is what one pass with the archive's parameters makes of its lines
        // (level 1), which is smaller than level 3, with or without 6-byte minimum matches.
        func compressed(_ parameters: ZstdParameters) throws -> [UInt8] {
            final class Out { var bytes: [UInt8] = [] }
            let out = Out()
            let c = try ZstdCompressor(parameters) { out.bytes.append(contentsOf: $0) }
            try c.write(Array(text.utf8))
            try c.finish()
            return out.bytes
        }
        let file = try [UInt8](Data(contentsOf: layout.root.appendingPathComponent(orders.path)))
        #expect(try compressed(.jsonLines) == file)
        for slower in [ZstdParameters(level: 3), ZstdParameters(level: 3, minMatch: 6)] {
            let bytes = try compressed(slower)
            #expect(bytes.count > file.count, "level \(slower.level), minimum match \(slower.minMatch): \(bytes.count) bytes; level 1: \(file.count)")
        }
    }

    @Test func theExportOfADayEqualsWhatWasProducedThatDay() async throws {
        // 2 orders a minute from 20:00: about 30 hours of event time, so three dates.
        let fixture = ArchiveFixture(count: 12_000)
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        let store = try ArchiveStore(layout: layout, settings: archiveSettings(records: 700), logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"])
        try await fixture.feed(sink, batch: 250)
        try await sink.close()

        let dayStart = Timestamp(rfc3339: "2026-11-02T00:00:00Z")!.epochMillis
        let dayEnd = dayStart + 86_400_000
        let expected = fixture.records.filter { $0.record.topic == "orders" && (dayStart..<dayEnd).contains(ArchiveFixture.time($0)) }
        #expect(expected.count > 1000)
        let query = try ArchiveQuery.parse(topic: "orders", from: "2026-11-02", to: "2026-11-02", types: [])
        #expect(query.from == dayStart && query.to == dayEnd)
        let lines = try jsonLines(try exportedLines(store, query))
        #expect(lines.count == expected.count)
        let got = Set(lines.map { "\($0["partition"]!)/\($0["offset"]!)" })
        #expect(got == Set(expected.map { "\($0.record.partition)/\($0.record.offset)" }))
        // Content: each exported value is the produced value.
        let produced = Dictionary(uniqueKeysWithValues: expected.map { ("\($0.record.partition)/\($0.record.offset)", $0.record.value) })
        for line in lines.prefix(2000) {
            let key = "\(line["partition"]!)/\(line["offset"]!)"
            let original = try JSONSerialization.jsonObject(with: Data(produced[key]!), options: [.fragmentsAllowed])
            let value = line["value_format"] as? String == "json" ? line["value"] : (line["value"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) } ?? line["value"]
            if let a = original as? NSDictionary, let b = value as? NSDictionary { #expect(a == b) } else { #expect(line["value_format"] as? String != "json") }
        }
        // Late events of that day that arrived with the next day's records are found through the manifest.
        var latest: [Int32: Int64] = [:]
        var late: [SinkRecord] = []
        for r in fixture.records where r.record.topic == "orders" {
            let t = ArchiveFixture.time(r)
            if (dayStart..<dayEnd).contains(t), latest[r.record.partition, default: .min] >= dayEnd { late.append(r) }
            latest[r.record.partition] = max(latest[r.record.partition, default: .min], t)
        }
        let lateSegments = store.allEntries().filter { $0.topic == "orders" && $0.path.contains("date=2026-11-03") && $0.minEventTime < ArchiveTime.string(dayEnd) }
        #expect(late.isEmpty == lateSegments.isEmpty)

        // Type filter, CSV and zstd output agree with the plain export.
        let placed = try ArchiveQuery.parse(topic: "orders", from: "2026-11-02", to: "2026-11-02", types: ["order.placed"])
        let placedLines = try jsonLines(try exportedLines(store, placed))
        #expect(placedLines.count == expected.count(where: { (try? $0.event.get())?.payload.type == .orderPlaced }))
        let csv = String(decoding: try exportedLines(store, query, format: .csv), as: UTF8.self)
        #expect(csv.hasPrefix("topic,partition,offset,timestamp,event_time,type,event_id,key,dead_letter,value_format,value\n"))
        #expect(csv.split(separator: "\n").count == expected.count + 1)
        let zst = try exportedLines(store, query, format: .jsonlZst)
        let file = makeTemporaryDirectory("hearth-export").appendingPathComponent("day.jsonl.zst")
        try Data(zst).write(to: file)
        let (status, text) = try await runTool("/usr/bin/zstd", ["-dc", file.path])
        let plain = try exportedLines(store, query)
        #expect(status == 0 && Array(text.utf8) == plain)
    }

    @Test func idlePartitionsAreFlushedAndOldSegmentsClosed() async throws {
        let fixture = ArchiveFixture(count: 400)
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        let store = try ArchiveStore(layout: layout, settings: archiveSettings(age: 2, idle: 1), logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"])
        try await fixture.feed(sink)
        // No further record arrives, no stop: the idle partitions are written anyway.
        // (Each segment costs three fsyncs, which take a while on a disk shared with a loaded test run.)
        try await waitUntil("idle partitions to be flushed", timeout: .seconds(60)) {
            store.allEntries().reduce(0) { $0 + $1.records } == fixture.records.count
        }
        #expect(store.status().openSegments == 0)

        // A partition that keeps receiving records is cut by age.
        let busy = TopicPartition("orders", 9)
        var offset: Int64 = 0
        let template = fixture.records.first { $0.record.topic == "orders" }!
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(5) {
            var r = template
            r.record.partition = 9
            r.record.offset = offset
            try await sink.apply(SinkBatch(pipeline: "t", partition: busy, expectedPosition: offset == 0 ? nil : offset, nextOffset: offset + 1, records: [r]))
            offset += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        let busySegments = store.allEntries().filter { $0.topic == "orders" && $0.partition == 9 }
        #expect(busySegments.count >= 1, "a segment was closed by age while records kept coming")
        try await sink.close()
        #expect(ArchiveVerifier.verify(layout).ok)
    }

    @Test func aSegmentNeverSpansTwoDatesAndLateRecordsStayWhereTheyArrived() async throws {
        let fixture = ArchiveFixture(count: 1)
        var template = fixture.records[0]
        let tp = TopicPartition("orders", 0)
        template.record.topic = "orders"
        template.record.partition = 0
        template.event = .failure(EventError(.decode, "invalid_json", "test"))
        let day1 = Timestamp(rfc3339: "2026-11-05T23:59:00Z")!.epochMillis
        let day2 = day1 + 120_000
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        let store = try ArchiveStore(layout: layout, settings: archiveSettings(), logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders"])
        // Invalid records are filed by Kafka timestamp: day 1, day 1, day 2, then a late day-1 record.
        let times = [day1, day1 + 1, day2, day1 + 2]
        let records = times.enumerated().map { i, t in
            var r = template
            r.record.offset = Int64(i)
            r.record.timestampMillis = t
            return r
        }
        try await sink.apply(SinkBatch(pipeline: "t", partition: tp, expectedPosition: nil, nextOffset: 4, records: records))
        try await sink.close()
        let entries = store.allEntries().sorted { $0.firstOffset < $1.firstOffset }
        #expect(entries.map(\.path) == ["orders/date=2026-11-05/orders+0+0-1.jsonl.zst", "orders/date=2026-11-06/orders+0+2-3.jsonl.zst"])
        #expect(entries[1].minEventTime == ArchiveTime.string(day1 + 2))
        let query = try ArchiveQuery.parse(topic: "orders", from: "2026-11-05", to: "2026-11-05", types: [])
        #expect(try jsonLines(try exportedLines(store, query)).map { $0["offset"] as? Int } == [0, 1, 3])
    }

    @Test func restartRecoversFromEveryCrashPoint() async throws {
        let fixture = ArchiveFixture(count: 2000)
        let root = makeTemporaryDirectory("hearth-archive")
        let layout = ArchiveLayout(root: root)
        var store: ArchiveStore? = try ArchiveStore(layout: layout, settings: archiveSettings(records: 150), logger: testLogger)
        var sink = ArchiveSink(store: store!, topics: ["orders", "restaurants", "menus"])
        try await fixture.feed(sink)
        try await sink.close()
        store!.close()
        let before = store!.allEntries()
        let positions = Dictionary(grouping: before) { TopicPartition($0.topic, $0.partition) }.mapValues { $0.map(\.endOffset).max()! }
        store = nil

        // 1. A crash after rename, before the manifest entry: the segment is recorded at start.
        var manifest = try String(contentsOfFile: layout.manifestPath, encoding: .utf8)
        var lines = manifest.split(separator: "\n", omittingEmptySubsequences: true)
        let lost = lines.removeLast()
        // 2. A crash while the manifest line was written: a partial line at the end.
        manifest = lines.joined(separator: "\n") + "\n" + lost.prefix(40)
        try manifest.write(toFile: layout.manifestPath, atomically: false, encoding: .utf8)
        // 3. A crash while a segment was written: a temporary file.
        let someDir = root.appendingPathComponent((before[0].path as NSString).deletingLastPathComponent)
        let temp = someDir.appendingPathComponent(".orders+0+999-1000.jsonl.zst.1234.tmp")
        try Data("partial".utf8).write(to: temp)
        // 4. A segment file overlapping what the manifest holds (left by a crash before a rewrite).
        let copied = before.first { $0.topic == "orders" && $0.partition == 0 }!
        let overlap = someDir.appendingPathComponent("orders+0+\(copied.firstOffset + 1)-\(copied.lastOffset).jsonl.zst")
        try FileManager.default.copyItem(at: root.appendingPathComponent(copied.path), to: overlap)
        #expect(!ArchiveVerifier.verify(layout).ok, "verify sees the damage before the restart repairs it")

        let reopened = try ArchiveStore(layout: layout, settings: archiveSettings(records: 150), logger: testLogger)
        #expect(!FileManager.default.fileExists(atPath: temp.path))
        #expect(!FileManager.default.fileExists(atPath: overlap.path))
        let after = reopened.allEntries()
        #expect(after.count == before.count)
        #expect(Set(after.map(\.path)) == Set(before.map(\.path)))
        let report = ArchiveVerifier.verify(layout)
        #expect(report.ok, "\(report.problems)")
        #expect(report.records == fixture.records.count)
        sink = ArchiveSink(store: reopened, topics: ["orders", "restaurants", "menus"])
        let got = try await sink.positions(pipeline: "t", partitions: Array(positions.keys))
        #expect(got == positions)
        reopened.close()
    }

    @Test func verifyFindsDamage() async throws {
        let fixture = ArchiveFixture(count: 1500)
        let root = makeTemporaryDirectory("hearth-archive")
        let layout = ArchiveLayout(root: root)
        let store = try ArchiveStore(layout: layout, settings: archiveSettings(records: 100), logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"])
        try await fixture.feed(sink)
        try await sink.close()
        store.close()
        #expect(ArchiveVerifier.verify(layout).ok)
        let entries = store.allEntries().filter { $0.topic == "orders" && $0.partition == 2 }.sorted { $0.firstOffset < $1.firstOffset }
        #expect(entries.count >= 3)

        // A flipped byte: the checksum (and the frame) no longer match.
        let damaged = root.appendingPathComponent(entries[0].path)
        var bytes = try Data(contentsOf: damaged)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: damaged)
        // A missing segment leaves a hole in the partition's offsets.
        try FileManager.default.removeItem(at: root.appendingPathComponent(entries[1].path))
        let report = ArchiveVerifier.verify(layout)
        #expect(!report.ok)
        #expect(report.problems.contains { $0.contains(entries[0].path) })
        #expect(report.problems.contains { $0.contains("\(entries[1].path): missing") })

        // A manifest entry dropped from the middle: a gap, and a file the manifest does not know.
        var lines = try String(contentsOfFile: layout.manifestPath, encoding: .utf8).split(separator: "\n")
        lines.removeAll { $0.contains(entries[2].path) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: layout.manifestPath, atomically: true, encoding: .utf8)
        let report2 = ArchiveVerifier.verify(layout)
        #expect(report2.problems.contains { $0.contains("gap") })
        #expect(report2.problems.contains { $0.contains("\(entries[2].path): not in the manifest") })

        // The command line: exit code 1 and one line per problem.
        let (status, out) = try await runTool(TestPaths.hearthBinary.path, ["archive", "verify", "--data-dir", root.deletingLastPathComponent().path])
        #expect(status != 0, "\(out)")
    }

    @Test func memoryStaysWithinTheBudgetHoweverManyPartitions() async throws {
        let fixture = ArchiveFixture(count: 20_000, partitions: 32)
        let layout = ArchiveLayout(root: makeTemporaryDirectory("hearth-archive"))
        // Segments could grow to 64 MiB; only the 1 MiB budget makes them be written.
        let budget = 1 << 20
        var settings = archiveSettings(budget: budget)
        // The budget is what this checks, not the writer's speed: with the whole suite on two cores the test has
        // run 13 times slower than alone (110 s against 8), and a lane once waited out the 60 s default.
        settings.budgetWait = .seconds(600)
        let store = try ArchiveStore(layout: layout, settings: settings, logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"])
        let peak = PeakGauge()
        let watcher = Task {
            while !Task.isCancelled {
                peak.note(store.status().bufferedBytes)
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        // Partitions fed concurrently, four at a time, as the runner does.
        let parts = fixture.byPartition.sorted { $0.key < $1.key }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask {
                    for (i, (tp, list)) in parts.enumerated() where i % 4 == lane {
                        var position: Int64?
                        for start in stride(from: 0, to: list.count, by: 50) {
                            let chunk = Array(list[start..<min(start + 50, list.count)])
                            try await sink.apply(SinkBatch(pipeline: "t", partition: tp, expectedPosition: position,
                                                           nextOffset: chunk.last!.record.offset + 1, records: chunk))
                            position = chunk.last!.record.offset + 1
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await sink.close()
        watcher.cancel()
        // The budget, plus at most one batch in flight per concurrent partition (the stream has oversized
        // invalid records, which are archived too).
        let largestBatch = parts.flatMap { _, list in stride(from: 0, to: list.count, by: 50).map { start in
            list[start..<min(start + 50, list.count)].reduce(0) { $0 + $1.record.value.count + 1024 } } }.max()!
        #expect(peak.value <= budget + 4 * largestBatch, "peak \(peak.value) bytes")
        #expect(store.allEntries().count > fixture.byPartition.count, "the budget made segments be written early")
        let report = ArchiveVerifier.verify(layout)
        #expect(report.ok && report.records == fixture.records.count)
    }

    @Test func aBatchFromAStalePositionIsRefused() async throws {
        let fixture = ArchiveFixture(count: 300)
        let store = try ArchiveStore(layout: ArchiveLayout(root: makeTemporaryDirectory("hearth-archive")), settings: archiveSettings(), logger: testLogger)
        let sink = ArchiveSink(store: store, topics: ["orders"])
        let list = fixture.byPartition.first { $0.key.topic == "orders" }!
        let first = Array(list.value.prefix(10))
        try await sink.apply(SinkBatch(pipeline: "t", partition: list.key, expectedPosition: nil, nextOffset: 10, records: first))
        await #expect(throws: SinkPositionConflict.self) {
            try await sink.apply(SinkBatch(pipeline: "t", partition: list.key, expectedPosition: nil, nextOffset: 10, records: first))
        }
        try await sink.close()
        let stored = try await sink.positions(pipeline: "t", partitions: [list.key])
        #expect(stored == [list.key: 10])
        store.close()
    }

    @Test func lineBuffersAreReusedWithinTheirBound() throws {
        for n in [1, 4096, 4097, 5000, 3_000_000, 3_145_728, 3_145_729, 64 << 20] {
            let size = LineBufferPool.size(for: n)
            #expect(size >= n && size <= max(4096, n + n / 4), "\(n) → \(size)")
            #expect(LineBufferPool.size(for: size) == size, "a handed-out size is its own class")
        }
        // A buffer given back is handed out again for the same size; never more than the limit is kept.
        let pool = LineBufferPool(limit: 4 << 20)
        let (p, capacity) = pool.take(1_000_000)
        #expect(capacity == LineBufferPool.size(for: 1_000_000))
        pool.give(p, capacity: capacity)
        #expect(pool.keptBytes == capacity)
        let (q, _) = pool.take(999_000)
        #expect(q == p && pool.keptBytes == 0, "the same size class: the kept buffer")
        let taken = (0..<8).map { _ in pool.take(1 << 20) }
        for (b, c) in taken { pool.give(b, capacity: c) }
        #expect(pool.keptBytes == 4 << 20, "four of the eight kept, the rest freed")
        pool.give(q, capacity: capacity)
        #expect(pool.keptBytes == 4 << 20)
    }

    @Test func deadLetterValuesAreArchivedAsJSONExactlyWhenTheyAreJSON() throws {
        let valid = [#"{}"#, #"[]"#, #" {"a": [1, -2.5e+3, {"b": null}], "c": "x\u00e9\n\"", "d": true} "#, #"-0.5E-3"#,
                     #""s""#, "\ttrue\n", #"[[[]],[{}]]"#, #"0"#, #"{"é": "ü"}"#]
        let invalid = [#"{"#, #"{"a"}"#, #"{"a":1,}"#, #"[1,]"#, #"01"#, #"1."#, "\"\u{01}\"", #"tru"#, #"{"a":1}}"#, #"{} {}"#,
                       #"[1 2]"#, #""\x""#, #"{1:2}"#, #"-"#, "", " ", #"[1,,2]"#, #"{"a" 1}"#, #""\u12G4""#, #"nul"#, #"1e"#, #"[-]"#]
        for text in valid {
            #expect(ArchiveLine.isJSON(Array(text.utf8)), "\(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil, "\(text)")
        }
        for text in invalid {
            #expect(!ArchiveLine.isJSON(Array(text.utf8)), "\(text)")
        }
        #expect(!ArchiveLine.isJSON([0x22, 0xC3, 0x28, 0x22]), "a string that is not UTF-8")
        // Deep nesting is followed without recursion.
        #expect(ArchiveLine.isJSON(Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)))
        #expect(!ArchiveLine.isJSON(Array(String(repeating: "[", count: 100_000).utf8)))
        #expect(!ArchiveLine.isJSON(Array((String(repeating: "{\"a\":[", count: 1000) + "1" + String(repeating: "}]", count: 1000)).utf8)))
        #expect(ArchiveLine.isJSON(Array((String(repeating: "{\"a\":[", count: 1000) + "1" + String(repeating: "]}", count: 1000)).utf8)))
    }

    @Test func queriesFromUserInputAreCheckedWithClearErrors() throws {
        func error(_ from: String?, _ to: String?, _ types: [String] = [], topic: String? = "orders") -> String? {
            do { _ = try ArchiveQuery.parse(topic: topic, from: from, to: to, types: types); return nil } catch { return error.description }
        }
        #expect(error("2026-11-01", "2026-11-01") == nil)
        #expect(error("2026-11-01T10:00:00+05:30", "2026-11-02T00:00:00Z") == nil)
        #expect(error("2026-02-30", nil) == "from: 2026-02-30 is not a calendar date")
        #expect(error("yesterday", nil)?.hasPrefix("from: \"yesterday\" is neither a date") == true)
        #expect(error("2026-11-02", "2026-11-01") == "from must be before to")
        #expect(error(nil, nil, ["order.placed", "pizza"])?.hasPrefix("unknown event type \"pizza\"") == true)
        #expect(error(nil, nil, topic: "bad topic")?.contains("not a valid Kafka topic name") == true)
        #expect(error(nil, nil, topic: nil) == "topic is required")
        #expect(error("0001-01-01", nil) == "from: years 1900 to 9999 only")
    }
}

/// `hearth replay` re-feeds archived records into a pipeline's sinks without counting anything twice.
@Suite struct ReplayTests {
    @Test func replayCompletesTheAggregatesAndCountsNothingTwice() async throws {
        // Recent event and Kafka times, inside the pipeline's dedup horizon.
        let start = Timestamp(epochMillis: Timestamp.now.epochMillis - 86_400_000)
        let fixture = ArchiveFixture(count: 6000, start: start, ordersPerMinute: 4)
        let data = makeTemporaryDirectory("hearth-replay")
        let store = try ArchiveStore(layout: ArchiveLayout(dataDirectory: data), settings: archiveSettings(records: 500), logger: testLogger)
        try await fixture.feed(ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"]))
        try await ArchiveSink(store: store, topics: ["orders", "restaurants", "menus"]).close()
        store.close()

        // The aggregates saw only the first half of each orders partition (as if the rest had been lost).
        let url = try await SharedPostgres.shared.freshDatabase()
        let migrator = PostgresConnection(url: url)
        try await Migrations.apply(migrator, logger: testLogger)
        await migrator.close()
        let analytics = AnalyticsSink(url: url, dedupHorizonHours: 168, logger: testLogger)
        for (tp, list) in fixture.byPartition where tp.topic == "orders" {
            let half = Array(list.prefix(list.count / 2))
            try await analytics.apply(SinkBatch(pipeline: "orders", partition: tp, expectedPosition: nil,
                                                nextOffset: half.last!.record.offset + 1, records: half))
        }

        let args = ["replay", "--topic", "orders", "--into", "orders", "--postgres", url, "--data-dir", data.path,
                    "--pipelines-dir", TestPaths.pipelines.path, "--indexes-dir", TestPaths.indexes.path]
        let (status, out) = try await runTool(TestPaths.hearthBinary.path, args)
        #expect(status == 0, "\(out)")
        let orders = fixture.records.filter { $0.record.topic == "orders" }
        #expect(out.contains("read \(orders.count) archived records of orders"), "\(out)")
        #expect(out.contains("0 older than the dedup horizon"), "\(out)")
        try await IngestHarness.expectExactTotals(url, fixture.expected)

        // Again: everything is counted already.
        let (status2, out2) = try await runTool(TestPaths.hearthBinary.path, args)
        #expect(status2 == 0)
        #expect(out2.contains("analytics: 0 applied"), "\(out2)")
        try await IngestHarness.expectExactTotals(url, fixture.expected)

        // Bad requests are one readable line and a failure exit code.
        let (status3, out3) = try await runTool(TestPaths.hearthBinary.path, args.map { $0 == "orders" ? "menus" : $0 })
        #expect(status3 != 0 && out3.contains("no pipeline \"menus\""), "\(out3)")
    }
}

final class PeakGauge: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    func note(_ v: Int) { lock.withLock { peak = max(peak, v) } }
    var value: Int { lock.withLock { peak } }
}
