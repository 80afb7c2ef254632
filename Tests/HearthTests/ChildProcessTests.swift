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
    /// sides, each 3-second run of this loop here saw a short child "run" for 3 s.
    @Test func childrenStartedConcurrentlyNeverHoldEachOtherOpen() async throws {
        let stop = Atomic<Bool>(false)
        let longLived = Thread {
            var children: [ChildProcess] = []
            while !stop.load(ordering: .relaxed) {
                if let child = try? ChildProcess("/bin/sleep", ["3"]) { children.append(child) }
                usleep(200)
            }
            for child in children { child.signal(SIGKILL); _ = child.waitBlocking() }
        }
        longLived.start()
        defer { stop.store(true, ordering: .relaxed) }
        var slowest = Duration.zero
        let until = ContinuousClock.now + .seconds(3)
        var count = 0
        while ContinuousClock.now < until {
            count += 1
            let started = ContinuousClock.now
            let child = try ChildProcess("/bin/true", [], stdout: .capture)
            let ended = await child.wait(timeout: .seconds(5))
            #expect(ended == .exited(0))
            #expect(await child.outputClosed(timeout: .seconds(5)))
            slowest = max(slowest, ContinuousClock.now - started)
        }
        #expect(count > 20)
        #expect(slowest < .seconds(1), "a short child was seen running for \(slowest)")
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
