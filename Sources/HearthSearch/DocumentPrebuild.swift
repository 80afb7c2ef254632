import Dispatch
import Foundation
import HearthEvents
import HearthSupport

/// Menu item and restaurant documents built ahead of the writer, on another thread.
///
/// Building a document (its stored JSON, terms and values) needs no database and was about a third of the
/// writer's time; the writer's own work (Xapian's B-trees) cannot be shared. So before a batch is applied
/// the sink predicts the restaurant each item upsert will carry (`RestaurantPredictor`), and a helper builds
/// the batch's item and restaurant documents in batch order, at most `window` events ahead of the writer,
/// from before the writer reaches the batch (while it commits the one before) until it has applied it. The
/// writer takes an item's document only when the restaurant and popularity it resolved equal the prediction
/// (they differ after a stale restaurant event, say, or a restaurant changed by a batch not yet committed
/// when this one was predicted) and otherwise builds it itself, so the index is exactly what building every
/// document on the writer makes. A restaurant's document depends on its event and popularity alone.
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

    /// A document built ahead, with the id term of the dish suggestion an item upsert counts in its restaurant's
    /// city (nil for a name without words, and for restaurants): computed here, off the writer's thread.
    struct Built {
        let document: XapianDocument
        let dishTerm: String?
    }

    private enum State { case waiting, building, built(Built), failed, taken }

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
    /// Where the helper's CPU time goes (the builder's thread).
    private let cpu: ThreadCPUTally
    /// Documents the writer has written, freed on the helper's queue after the batch (freeing a document's term
    /// map, and the batch's jobs, had been a tenth of the writer's time).
    private var spent: [XapianDocument] = []

    /// Starts the helper on `queue` (none for fewer than two jobs: nothing would overlap). A serial queue of its
    /// own gets a thread of its own; the global pool's few threads could be busy elsewhere. The window lets the
    /// helper build the head of a batch while the writer commits the one before (at 512 it stopped early in the
    /// commit; 2,048 documents hold a few MB).
    init(jobs: [Job], items: IndexDefinition, restaurants: IndexDefinition, on queue: DispatchQueue, cpu: ThreadCPUTally = ThreadCPUTally(),
         window: Int = 2048) {
        self.jobs = jobs
        self.cpu = cpu
        self.items = items
        self.restaurants = restaurants
        self.queue = queue
        self.window = window
        states = Array(repeating: .waiting, count: jobs.count)
        jobByEvent = Dictionary(uniqueKeysWithValues: jobs.enumerated().map { ($1.event, $0) })
        guard jobs.count > 1 else {
            helperNext = jobs.count   // no helper: nothing is built ahead
            return
        }
        helper.enter()
        queue.async { [self] in
            defer { helper.leave() }
            cpu.measure { buildAll() }
        }
    }

    /// The helper: builds the jobs in order while the writer is near enough.
    private func buildAll() {
        while let j = claimNext() {
            let built = try? build(jobs[j])
            condition.withLock {
                states[j] = built.map(State.built) ?? .failed
                condition.broadcast()
            }
        }
    }

    private func build(_ job: Job) throws -> Built {
        switch job.source {
        case .item(let stored):
            return Built(document: try SearchSink.itemDocument(stored, definition: items, popularity: job.popularity),
                         dishTerm: Suggestion.idTerm(.dish, stored.item.name, city: stored.restaurant?.city))
        case .restaurant(let r):
            return Built(document: try SearchSink.restaurantDocument(r, definition: restaurants, popularity: job.popularity), dishTerm: nil)
        }
    }

    /// The helper's next job, once the writer is near enough; nil when there is none left or the batch ended.
    private func claimNext() -> Int? {
        condition.withLock {
            while helperNext < jobs.count {
                if stopped { return nil }
                if jobs[helperNext].event > writerEvent + window {
                    helperResumesAt = jobs[helperNext].event - window / 2
                    condition.broadcast()   // for `waitForHelper`
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

    /// The document of the item upsert at `event` when it was built for `restaurant` and `popularity`; nil when the
    /// writer must build it itself (another restaurant or popularity, not predicted, not yet begun, or failed: the
    /// writer's own build reports the error).
    func take(event: Int, restaurant: RestaurantSummary?, popularity: [UInt8]?) -> Built? {
        guard let j = jobByEvent[event], case .item(let stored) = jobs[j].source, stored.restaurant == restaurant,
              jobs[j].popularity == popularity else { return nil }
        return take(j)
    }

    /// The document of the restaurant upsert at `event` when it was built for `popularity`; nil when the writer
    /// must build it itself.
    func take(restaurantEvent event: Int, popularity: [UInt8]?) -> XapianDocument? {
        guard let j = jobByEvent[event], case .restaurant = jobs[j].source, jobs[j].popularity == popularity else { return nil }
        return take(j)?.document
    }

    private func take(_ j: Int) -> Built? {
        condition.withLock {
            while true {
                switch states[j] {
                case .waiting:
                    states[j] = .taken   // not begun: the writer builds it, the helper skips it
                    return nil
                case .building:
                    condition.wait()
                case .built(let built):
                    states[j] = .taken
                    return built
                case .failed, .taken:
                    return nil
                }
            }
        }
    }

    /// Waits until the helper has built every job it may without the writer moving on (for tests).
    func waitForHelper() {
        condition.withLock {
            while !stopped, helperResumesAt == nil, helperNext < jobs.count || states.contains(where: { if case .building = $0 { true } else { false } }) {
                condition.wait()
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
        queue.async { [cpu] in cpu.measure { withExtendedLifetime(garbage) {} } }
    }

    /// What `finish` frees elsewhere.
    private struct Garbage: @unchecked Sendable {
        let documents: [XapianDocument]
        let jobs: [Job]
        let states: [State]
    }
}

/// Which restaurant an item upsert will carry, as far as can be told before the writer reaches its batch:
/// as the restaurant events of the batches predicted so far left it, else as the last commit holds it. The
/// writer resolves the real one (a batch predicted earlier may yet fail, or carry a stale revision), so a
/// wrong guess only means a document built twice. Reached only on the sink's builder queue.
final class RestaurantPredictor: @unchecked Sendable {
    private let path: String
    private var reader: XapianDatabase?
    /// Restaurant states from the events of recent batches, newest last (nil inside: removed).
    private var recent: [String: RestaurantSummary?] = [:]
    /// How many restaurants `recent` keeps before it starts again (a catalog's items follow their restaurant closely).
    private let recentLimit = 20_000

    init(path: String) { self.path = path }

    /// Moves the reader to the latest commit, before a batch is predicted.
    func begin() {
        do {
            if let reader { try reader.reopen() } else { reader = try XapianDatabase(path: path) }
        } catch {
            reader = nil   // predicted from the batches alone until the next batch tries again
        }
        if recent.count > recentLimit { recent.removeAll(keepingCapacity: true) }
    }

    /// Lets the index directory go (a prediction after this opens it again).
    func close() {
        reader = nil
        recent = [:]
    }

    /// Forgets what events said of these restaurants (the writer found them stale): predictions read the last
    /// commit again.
    func forget(_ ids: [String]) {
        for id in ids { recent[id] = nil }
    }

    /// Records a restaurant event's state (nil: removed).
    func note(_ id: String, _ restaurant: RestaurantSummary?) {
        recent[id] = .some(restaurant)
    }

    /// The predicted restaurant (`.some(nil)`: none), or nil when it cannot be told.
    func restaurant(_ id: String) -> RestaurantSummary?? {
        if let known = recent[id] { return known }
        guard let reader else { return nil }
        let indexed: RestaurantSummary?
        do {
            var data: [UInt8]?
            try reader.documents(withTerm: SearchSchema.restaurantID(id)) { _, bytes in data = Array(bytes) }
            indexed = try data.map { RestaurantSummary(try RestaurantUpserted.decodeStored($0)) }
        } catch {
            return nil
        }
        recent[id] = .some(indexed)
        return .some(indexed)
    }
}
