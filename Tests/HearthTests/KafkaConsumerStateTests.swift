@testable import HearthKafka
import Testing

/// The consumer's state machine, without I/O.
@Suite struct KafkaConsumerStateTests {
    let a = TopicPartition("orders", 0), b = TopicPartition("orders", 1)

    @Test func revokedOrRepositionedPartitionsMakeTheirBatchesStale() {
        var s = KafkaConsumerState(maxBufferedBytes: 1000)
        s.assign([a, b])
        let gen = s.generation(of: a)!
        #expect(s.isCurrent(a, gen))
        let r1 = s.reposition(a)
        #expect(r1)
        #expect(!s.isCurrent(a, gen))
        let gen2 = s.generation(of: a)!
        s.revoke([a])
        #expect(!s.isCurrent(a, gen2))
        s.assign([a])
        #expect(!s.isCurrent(a, gen2), "a new assignment never revives old batches")
        let r2 = s.reposition(TopicPartition("orders", 9))
        #expect(!r2)
    }

    @Test func bufferAboveTheLimitPausesEverythingAndResumesBelowHalf() {
        var s = KafkaConsumerState(maxBufferedBytes: 1000)
        s.assign([a, b])
        s.delivered(bytes: 600)
        let r3 = s.bufferAction()
        #expect(r3 == .none)
        s.delivered(bytes: 600)
        let r4 = s.bufferAction()
        #expect(r4 == .pause([a, b]))
        let r5 = s.bufferAction()
        #expect(r5 == .none)
        s.released(bytes: 600)
        let r6 = s.bufferAction()
        #expect(r6 == .none, "still above half")
        s.released(bytes: 200)
        let r7 = s.bufferAction()
        #expect(r7 == .resume([a, b]))
        s.released(bytes: 10_000)
        #expect(s.bufferedBytes == 0)
    }

    @Test func aSinkPausedPartitionStaysPausedWhenTheBufferDrains() {
        var s = KafkaConsumerState(maxBufferedBytes: 100)
        s.assign([a, b])
        let r8 = s.setPausedBySink(a, true)
        #expect(r8)
        let r9 = s.setPausedBySink(a, true)
        #expect(!r9, "already paused")
        s.delivered(bytes: 200)
        let r10 = s.bufferAction()
        #expect(r10 == .pause([a, b]))
        let r11 = s.setPausedBySink(b, false)
        #expect(!r11, "not sink-paused")
        s.released(bytes: 200)
        let r12 = s.bufferAction()
        #expect(r12 == .resume([b]))
        let r13 = s.setPausedBySink(a, false)
        #expect(r13)
    }

    @Test func resumeBySinkWaitsWhileTheBufferHoldsEverythingPaused() {
        var s = KafkaConsumerState(maxBufferedBytes: 100)
        s.assign([a])
        let r14 = s.setPausedBySink(a, true)
        #expect(r14)
        s.delivered(bytes: 200)
        let r15 = s.bufferAction()
        #expect(r15 == .pause([a]))
        let r16 = s.setPausedBySink(a, false)
        #expect(!r16, "the buffer still holds it paused")
        s.released(bytes: 200)
        let r17 = s.bufferAction()
        #expect(r17 == .resume([a]))
    }

    @Test func sinksStarveBelowTwoFullBatchesOfRecords() {
        var s = KafkaConsumerState(maxBufferedBytes: 1000)
        s.assign([a])
        #expect(s.isStarving(maxBatchRecords: 100))
        s.delivered(bytes: 100, records: 150)
        #expect(s.isStarving(maxBatchRecords: 100), "one batch and a half")
        s.delivered(bytes: 100, records: 50)
        #expect(!s.isStarving(maxBatchRecords: 100), "two full batches")
        s.released(bytes: 100, records: 150)
        #expect(s.isStarving(maxBatchRecords: 100))
        s.delivered(bytes: 500, records: 1)
        #expect(!s.isStarving(maxBatchRecords: 100), "few records, but half the byte limit")
        s.released(bytes: 10_000, records: 10_000)
        #expect(s.bufferedRecords == 0)
        #expect(s.isStarving(maxBatchRecords: 100))
    }
}
