import HearthPipeline
import Testing

/// A batch applies only offsets that follow on from the stored position without a hole.
@Suite struct ContiguityTests {
    @Test func contiguousBatchesApplyWhole() {
        #expect(Contiguity.check([10, 11, 12], expected: 10, accepted: nil) == .init(keep: 3, refetchFrom: nil))
        #expect(Contiguity.check([0, 1], expected: nil, accepted: nil) == .init(keep: 2, refetchFrom: nil))
        #expect(Contiguity.check([], expected: 5, accepted: nil) == .init(keep: 0, refetchFrom: nil))
    }

    @Test func aHoleBeforeTheBatchIsFetchedAgainOnceThenAccepted() {
        #expect(Contiguity.check([13, 14], expected: 10, accepted: nil) == .init(keep: 0, refetchFrom: 10))
        #expect(Contiguity.check([13, 14], expected: 10, accepted: 10) == .init(keep: 2, refetchFrom: nil), "seen twice: a real gap")
    }

    @Test func aHoleInsideTheBatchKeepsThePrefix() {
        #expect(Contiguity.check([10, 11, 15, 16], expected: 10, accepted: nil) == .init(keep: 2, refetchFrom: 12))
        #expect(Contiguity.check([10, 11, 15, 16], expected: 10, accepted: 12) == .init(keep: 4, refetchFrom: nil))
    }
}
