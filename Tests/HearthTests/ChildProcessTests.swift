import Foundation
import HearthSupport
import Synchronization
import Testing

/// The child processes Hearth starts (PostgreSQL, initdb, wrk) and the tests start (hearth, kcat,
/// schemathesis).
@Suite struct ChildProcessTests {
    /// With Foundation's `Process`, a long-lived child started while another thread starts a short
    /// one can inherit the short one's end-of-life socket, and the short one is then seen running
    /// until the long-lived one exits (a test waiting for it hung the whole run when the long-lived
    /// child was the test run's PostgreSQL server). A probe of this shape written with `Process`
    /// (sleepers every 0.2 ms for 3 s) saw a short child held open in each of its three runs.
    /// Here 200 short children, started while up to 3,000 sleepers start beside them, must each be
    /// seen to end (a held one would be seen running until the sleepers are killed at the end).
    @Test func childrenStartedConcurrentlyNeverHoldEachOtherOpen() async throws {
        let stop = Atomic<Bool>(false)
        let stopped = Atomic<Bool>(false)
        let sleepers = Mutex<[ChildProcess]>([])
        let longLived = Thread {
            var started = 0
            while !stop.load(ordering: .relaxed) && started < 3_000 {
                if let child = try? ChildProcess("/bin/sleep", ["3600"]) { sleepers.withLock { $0.append(child) }; started += 1 }
                usleep(200)
            }
            stopped.store(true, ordering: .relaxed)
        }
        longLived.start()
        for _ in 0..<200 {
            let child = try ChildProcess("/bin/true", [], stdout: .capture)
            let ended = await child.wait(timeout: .seconds(20))
            #expect(ended == .exited(0))
            #expect(await child.outputClosed(timeout: .seconds(20)))
        }
        stop.store(true, ordering: .relaxed)
        while !stopped.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        let all = sleepers.withLock { $0 }
        // (A loaded run once took longer than the sleepers used to sleep, 120 s, so they ended by themselves
        // before they were killed: they sleep an hour now, and a sleeper that ended anyway is not killed.)
        let running = all.filter { $0.poll() == nil }
        for sleeper in running { sleeper.signal(SIGKILL) }
        // One deadline for all of them: reaping 3,000 children on a loaded machine takes a while, and a
        // failure should say how many are left rather than wait 10 s for each.
        var left = all
        let deadline = ContinuousClock.now + .seconds(60)
        while !left.isEmpty && ContinuousClock.now < deadline {
            left.removeAll { $0.poll() != nil }
            if !left.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(left.isEmpty, "\(left.count) of \(all.count) sleepers not seen to end within 60 s of SIGKILL")
        if left.isEmpty {
            let other = running.compactMap { $0.poll() }.filter { $0 != .signalled(SIGKILL) }
            #expect(other.isEmpty, "sleepers running when signalled ended otherwise: \(Dictionary(grouping: other) { "\($0)" }.mapValues(\.count))")
        }
        #expect(running.count > all.count / 2, "most sleepers were still running: \(running.count) of \(all.count)")
        #expect(!all.isEmpty)
    }

    @Test func outputInputStatusAndSignals() async throws {
        let echo = try ChildProcess("/bin/sh", ["-c", "cat; echo second; echo oops >&2; exit 3"],
                                    stdin: .bytes(Data("first\n".utf8)), stdout: .capture)
        #expect(try await echo.nextLine(timeout: .seconds(10)) == "first")
        #expect(try await echo.nextLine(timeout: .seconds(10)) == "second")
        #expect(await echo.wait(timeout: .seconds(10)) == .exited(3))
        #expect(await echo.outputClosed(timeout: .seconds(5)))
        #expect(echo.output == "first\nsecond\noops\n")

        let sleeper = try ChildProcess("/bin/sleep", ["30"])
        #expect(await sleeper.wait(timeout: .milliseconds(100)) == nil)
        sleeper.signal(SIGINT)
        #expect(await sleeper.wait(timeout: .seconds(10)) == .signalled(SIGINT))
        #expect(ChildProcess.Termination.signalled(SIGINT).status == 130)

        // A silent child: waiting for a line ends at the time limit, with an error.
        let silent = try ChildProcess("/bin/sleep", ["30"], stdout: .capture)
        await #expect(throws: SpawnError.self) { try await silent.nextLine(timeout: .milliseconds(200)) }
        silent.signal(SIGKILL)
        #expect(await silent.wait(timeout: .seconds(10)) == .signalled(SIGKILL))

        #expect(throws: SpawnError.self) { try ChildProcess("/nonexistent/tool", []) }
    }
}
