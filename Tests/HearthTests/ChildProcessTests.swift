import Foundation
import HearthSupport
import Synchronization
import Testing

/// The child processes Hearth starts (PostgreSQL, initdb, wrk) and the tests start (hearth, kcat,
/// schemathesis).
@Suite struct ChildProcessTests {
    /// Foundation's `Process` fails this: a long-lived child started while another thread starts a
    /// short one inherits the short one's end-of-life socket, and the short one is seen running
    /// until the long-lived one exits (a test waiting for it then hung the whole run when the
    /// long-lived child was the test run's PostgreSQL server). Written with `Process` on both
    /// sides, each 3-second run of this loop here saw a short child "run" as long as a sleeper.
    @Test func childrenStartedConcurrentlyNeverHoldEachOtherOpen() async throws {
        let stop = Atomic<Bool>(false)
        let stopped = Atomic<Bool>(false)
        let sleepers = Mutex<[ChildProcess]>([])
        let longLived = Thread {
            while !stop.load(ordering: .relaxed) {
                if let child = try? ChildProcess("/bin/sleep", ["120"]) { sleepers.withLock { $0.append(child) } }
                usleep(200)
            }
            stopped.store(true, ordering: .relaxed)
        }
        longLived.start()
        var slowest = Duration.zero
        let until = ContinuousClock.now + .seconds(3)
        var count = 0
        while ContinuousClock.now < until {
            count += 1
            let started = ContinuousClock.now
            let child = try ChildProcess("/bin/true", [], stdout: .capture)
            // Held open by a sleeper, it would be seen running until the sleepers are killed.
            let ended = await child.wait(timeout: .seconds(20))
            #expect(ended == .exited(0))
            #expect(await child.outputClosed(timeout: .seconds(20)))
            slowest = max(slowest, ContinuousClock.now - started)
        }
        stop.store(true, ordering: .relaxed)
        while !stopped.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        let all = sleepers.withLock { $0 }
        for sleeper in all { sleeper.signal(SIGKILL) }
        for sleeper in all { #expect(await sleeper.wait(timeout: .seconds(10)) == .signalled(SIGKILL)) }
        #expect(count > 20)
        #expect(slowest < .seconds(20), "a short child was seen running for \(slowest)")
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
