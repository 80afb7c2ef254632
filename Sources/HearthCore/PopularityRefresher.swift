import HearthAnalytics
import HearthSearch
import Logging
import ServiceLifecycle

/// Recounts recent orders from the analytics store and hands them to the search index, which
/// ranks items, restaurants and suggestions by them. Runs at start and then every `interval`;
/// a failed round is logged and retried at the next one (search keeps its previous ranking).
public final class PopularityRefresher: Service, Sendable {
    let analytics: AnalyticsSink
    let search: SearchSink
    let days: Int
    let interval: Duration
    let logger: Logger

    public init(analytics: AnalyticsSink, search: SearchSink, days: Int, interval: Duration, logger: Logger) {
        self.analytics = analytics
        self.search = search
        self.days = days
        self.interval = interval
        self.logger = logger
    }

    /// One round: counts of the window in, changed documents out.
    @discardableResult
    public func refresh() async throws -> SearchSink.PopularityChange {
        let counts = try await analytics.popularity(days: days)
        return try await search.applyPopularity(items: counts.items, restaurants: counts.restaurants,
                                                dishes: counts.dishes.map { ($0.city, $0.name, $0.orders) })
    }

    public func run() async throws {
        // A stop interrupts the wait between rounds; a round in progress is one Xapian transaction.
        try? await cancelWhenGracefulShutdown { try await self.loop() }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let change = try await refresh()
                logger.info("Refreshed search popularity.", metadata: [
                    "documents_changed": "\(change.documents)", "suggestions_changed": "\(change.suggestions)",
                    "seconds": "\((ContinuousClock.now - started).components.seconds)",
                ])
            } catch {
                logger.warning("Could not refresh search popularity; keeping the previous ranking.", metadata: ["reason": "\(error)"])
            }
            try await Task.sleep(for: interval)
        }
    }
}
