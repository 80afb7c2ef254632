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
        #expect(s.reposition(a))
        #expect(!s.isCurrent(a, gen))
        let gen2 = s.generation(of: a)!
        s.revoke([a])
        #expect(!s.isCurrent(a, gen2))
        s.assign([a])
        #expect(!s.isCurrent(a, gen2), "a new assignment never revives old batches")
        #expect(!s.reposition(TopicPartition("orders", 9)))
    }

    @Test func bufferAboveTheLimitPausesEverythingAndResumesBelowHalf() {
        var s = KafkaConsumerState(maxBufferedBytes: 1000)
        s.assign([a, b])
        s.delivered(bytes: 600)
        #expect(s.bufferAction() == .none)
        s.delivered(bytes: 600)
        #expect(s.bufferAction() == .pause([a, b]))
        #expect(s.bufferAction() == .none)
        s.released(bytes: 600)
        #expect(s.bufferAction() == .none, "still above half")
        s.released(bytes: 200)
        #expect(s.bufferAction() == .resume([a, b]))
        s.released(bytes: 10_000)
        #expect(s.bufferedBytes == 0)
    }

    @Test func aSinkPausedPartitionStaysPausedWhenTheBufferDrains() {
        var s = KafkaConsumerState(maxBufferedBytes: 100)
        s.assign([a, b])
        #expect(s.setPausedBySink(a, true))
        #expect(!s.setPausedBySink(a, true), "already paused")
        s.delivered(bytes: 200)
        #expect(s.bufferAction() == .pause([a, b]))
        #expect(!s.setPausedBySink(b, false), "not sink-paused")
        s.released(bytes: 200)
        #expect(s.bufferAction() == .resume([b]))
        #expect(s.setPausedBySink(a, false))
    }

    @Test func resumeBySinkWaitsWhileTheBufferHoldsEverythingPaused() {
        var s = KafkaConsumerState(maxBufferedBytes: 100)
        s.assign([a])
        #expect(s.setPausedBySink(a, true))
        s.delivered(bytes: 200)
        #expect(s.bufferAction() == .pause([a]))
        #expect(!s.setPausedBySink(a, false), "the buffer still holds it paused")
        s.released(bytes: 200)
        #expect(s.bufferAction() == .resume([a]))
    }
}
