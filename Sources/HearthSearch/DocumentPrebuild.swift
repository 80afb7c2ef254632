import Dispatch
import Foundation
import HearthEvents

/// Menu item and restaurant documents built ahead of the writer, on another thread.
///
/// Building a document (its stored JSON, terms and values) needs no database and was about a third of the
/// writer's time; the writer's own work (Xapian's B-trees) cannot be shared. So before a batch is applied
/// the sink predicts the restaurant each item upsert will carry, and a helper builds the batch's item and
/// restaurant documents in batch order, at most `window` events ahead of the writer, while the writer
/// applies the batch. The writer takes an item's document only when the restaurant it resolved equals
/// the prediction (they differ after a stale restaurant event in the same batch, say) and otherwise builds
/// it itself, so the index is exactly what building every document on the writer makes. A restaurant's
/// document depends on its event alone.
///
/// `@unchecked Sendable`: every mutable property is reached only under `condition`; a document is
/// touched by one thread at a time (the one that claimed its job builds it, then hands it over under
/// the lock), and the jobs are immutable.
final class DocumentPrebuild: @unchecked Sendable {
    struct Job {
        enum Source {
            case item(StoredMenuItem)
            case restaurant(RestaurantUpserted)
        }
        /// The position of the upsert among the batch's events.
        let event: Int
        let source: Source
        let popularity: [UInt8]?
    }

    private enum State { case waiting, building, built(XapianDocument), failed, taken }

    private var jobs: [Job]
    private let items: IndexDefinition
    private let restaurants: IndexDefinition
    private let window: Int
    private let jobByEvent: [Int: Int]
    private let condition = NSCondition()
    private var states: [State]
    private var helperNext = 0
    private var writerEvent = 0
    /// While the helper waits for the writer: the event the writer must reach before it is woken (half a window
    /// behind the helper's next job, so that it is woken once per half window rather than once per event).
    private var helperResumesAt: Int?
    private var stopped = false
    private let helper = DispatchGroup()
    private let queue: DispatchQueue
    /// Documents the writer has written, freed on the helper's queue after the batch (freeing a document's term
    /// map, and the batch's jobs, had been a tenth of the writer's time).
    private var spent: [XapianDocument] = []

    /// Starts the helper on `queue` (none for fewer than two jobs: nothing would overlap). A serial queue of its
    /// own gets a thread of its own; the global pool's few threads could be busy elsewhere.
    init(jobs: [Job], items: IndexDefinition, restaurants: IndexDefinition, on queue: DispatchQueue, window: Int = 512) {
        self.jobs = jobs
        self.items = items
        self.restaurants = restaurants
        self.queue = queue
        self.window = window
        states = Array(repeating: .waiting, count: jobs.count)
        jobByEvent = Dictionary(uniqueKeysWithValues: jobs.enumerated().map { ($1.event, $0) })
        guard jobs.count > 1 else { return }
        helper.enter()
        queue.async { [self] in
            defer { helper.leave() }
            while let j = claimNext() {
                let built = try? build(jobs[j])
                condition.withLock {
                    states[j] = built.map(State.built) ?? .failed
                    condition.broadcast()
                }
            }
        }
    }

    private func build(_ job: Job) throws -> XapianDocument {
        switch job.source {
        case .item(let stored): try SearchSink.itemDocument(stored, definition: items, popularity: job.popularity)
        case .restaurant(let r): try SearchSink.restaurantDocument(r, definition: restaurants, popularity: job.popularity)
        }
    }

    /// The helper's next job, once the writer is near enough; nil when there is none left or the batch ended.
    private func claimNext() -> Int? {
        condition.withLock {
            while helperNext < jobs.count {
                if stopped { return nil }
                if jobs[helperNext].event > writerEvent + window {
                    helperResumesAt = jobs[helperNext].event - window / 2
                    condition.wait()
                    continue
                }
                let j = helperNext
                helperNext += 1
                if case .waiting = states[j] {
                    states[j] = .building
                    return j
                }
            }
            return nil
        }
    }

    /// Tells the helper how far the writer has come (it stays at most `window` events ahead).
    func writer(at event: Int) {
        condition.withLock {
            writerEvent = event
            if let resume = helperResumesAt, event >= resume {
                helperResumesAt = nil
                condition.broadcast()
            }
        }
    }

    /// The document of the item upsert at `event` when it was built for `restaurant`; nil when the writer must
    /// build it itself (another restaurant, not yet begun, or failed: the writer's own build reports the error).
    func take(event: Int, restaurant: RestaurantSummary?) -> XapianDocument? {
        guard let j = jobByEvent[event], case .item(let stored) = jobs[j].source, stored.restaurant == restaurant else { return nil }
        return take(j)
    }

    /// The document of the restaurant upsert at `event`; nil when the writer must build it itself.
    func take(restaurantEvent event: Int) -> XapianDocument? {
        guard let j = jobByEvent[event], case .restaurant = jobs[j].source else { return nil }
        return take(j)
    }

    private func take(_ j: Int) -> XapianDocument? {
        condition.withLock {
            while true {
                switch states[j] {
                case .waiting:
                    states[j] = .taken   // not begun: the writer builds it, the helper skips it
                    return nil
                case .building:
                    condition.wait()
                case .built(let document):
                    states[j] = .taken
                    return document
                case .failed, .taken:
                    return nil
                }
            }
        }
    }

    /// Hands a written document back, to be freed off the writer's thread.
    func recycle(_ document: XapianDocument) {
        condition.withLock { spent.append(document) }
    }

    /// Stops the helper and waits for it, then frees the batch's documents and jobs on the helper's queue (while
    /// the writer commits).
    func finish() {
        condition.withLock {
            stopped = true
            helperResumesAt = nil
            condition.broadcast()
        }
        helper.wait()
        let garbage = condition.withLock {
            defer { spent = []; jobs = []; states = [] }
            return Garbage(documents: spent, jobs: jobs, states: states)
        }
        queue.async { withExtendedLifetime(garbage) {} }
    }

    /// What `finish` frees elsewhere.
    private struct Garbage: @unchecked Sendable {
        let documents: [XapianDocument]
        let jobs: [Job]
        let states: [State]
    }
}
