import Foundation
import HearthSupport
import Logging

/// A PostgreSQL server started from the system's binaries in a data directory,
/// for `hearth demo`, `serve` without a URL, and the tests.
///
/// As root it runs as the unprivileged `postgres` user (PostgreSQL refuses root).
/// The server receives SIGINT if Hearth dies (parent-death signal), so a killed
/// Hearth never leaves it behind; a server left by an earlier run is stopped first.
public final class ManagedPostgres: Sendable {
    public let directory: URL
    public let port: Int
    /// `postgresql://hearth@127.0.0.1:PORT/hearth`
    public let url: String
    private let process: SpawnedProcess
    private let logger: Logger

    public static let database = "hearth"
    public static let user = "hearth"

    private init(directory: URL, port: Int, process: SpawnedProcess, logger: Logger) {
        self.directory = directory
        self.port = port
        self.process = process
        self.logger = logger
        url = "postgresql://\(ManagedPostgres.user)@127.0.0.1:\(port)/\(ManagedPostgres.database)"
    }

    /// Initialises `<dataDirectory>/postgres` when needed, starts the server on a free loopback port and waits until it answers.
    /// - Parameter port: a fixed port (e.g. to restart a server where its clients expect it); nil picks a free one.
    public static func start(dataDirectory: URL, port fixedPort: Int? = nil,
                             logger: Logger = Logger(label: "hearth.postgres.managed")) async throws -> ManagedPostgres {
        let bin = try binDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let dir = dataDirectory.appendingPathComponent("postgres")
        let owner = try serverUser()
        if !fm.fileExists(atPath: dir.path) {
            try fm.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        if let owner { chown(dir.path, owner.uid, owner.gid) }
        stopStale(dir, logger: logger)

        if !fm.fileExists(atPath: dir.appendingPathComponent("PG_VERSION").path) {
            logger.info("Initialising a PostgreSQL data directory.", metadata: ["path": "\(dir.path)"])
            let out = try await run(bin + "/initdb", ["-D", dir.path, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], as: owner)
            guard out.status == 0 else {
                throw ManagedPostgresError("initdb failed: \(out.output.suffix(400))")
            }
        }
        let logFile = dataDirectory.appendingPathComponent("postgres.log")
        _ = fm.createFile(atPath: logFile.path, contents: nil)
        if let owner { chown(logFile.path, owner.uid, owner.gid) }

        var lastError = ""
        for _ in 0..<5 {
            let port = try fixedPort ?? freePort()
            let args = ["-D", dir.path, "-p", String(port), "-c", "listen_addresses=127.0.0.1",
                        "-c", "unix_socket_directories=\(dir.path)", "-c", "max_connections=100",
                        "-c", "shared_buffers=256MB", "-c", "wal_level=minimal", "-c", "max_wal_senders=0",
                        "-c", "logging_collector=off", "-c", "log_min_messages=warning"]
            let process = try SpawnedProcess.start(bin + "/postgres", args, as: owner, parentDeathSignal: true, output: logFile)
            let server = ManagedPostgres(directory: dir, port: port, process: process, logger: logger)
            let admin = PostgresConnection(url: "postgresql://\(user)@127.0.0.1:\(port)/postgres")
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, process.isRunning {
                if await admin.ping() { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            guard process.isRunning, await admin.ping() else {
                lastError = (try? String(contentsOf: logFile, encoding: .utf8))?.suffix(400).description ?? ""
                process.terminate()
                await admin.close()
                continue
            }
            let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(database)")
            if exists.count == 0 { try await admin.query("CREATE DATABASE \(unsafeRaw: database)") }
            await admin.close()
            logger.info("PostgreSQL is ready.", metadata: ["port": "\(port)"])
            return server
        }
        throw ManagedPostgresError("PostgreSQL did not start: \(lastError)")
    }

    /// Fast shutdown: SIGINT, then wait for the server to exit.
    public func stop() async {
        process.interrupt()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
    }

    /// Stops the server abruptly (SIGKILL) — for tests of a database outage.
    public func kill() { process.terminate() }

    /// The managed server's pid, while it runs.
    public var pid: Int32 { process.pid }

    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted()
        guard let v = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/postgres") else {
            throw ManagedPostgresError("PostgreSQL server binaries were not found under \(root); install the postgresql package")
        }
        return "\(root)/\(v)/bin"
    }

    /// The unprivileged user to run as when Hearth runs as root.
    static func serverUser() throws -> (uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0 else { return nil }
        for name in ["postgres", "nobody"] {
            if let pw = getpwnam(name) { return (pw.pointee.pw_uid, pw.pointee.pw_gid) }
        }
        throw ManagedPostgresError("running as root, but there is no unprivileged user to run PostgreSQL as")
    }

    /// Stops a server an earlier, killed run left on this data directory.
    static func stopStale(_ dir: URL, logger: Logger) {
        let pidFile = dir.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = text.split(separator: "\n").first.flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }),
              pid > 0
        else { return }
        guard Foundation.kill(pid, 0) == 0 else { return }
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        guard comm.hasPrefix("postgres") else { return }
        logger.warning("Stopping a PostgreSQL server left by an earlier run.", metadata: ["pid": "\(pid)"])
        _ = Foundation.kill(pid, SIGINT)
        for _ in 0..<300 where Foundation.kill(pid, 0) == 0 { usleep(100_000) }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ManagedPostgresError("no socket for finding a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw ManagedPostgresError("could not find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func run(_ path: String, _ args: [String], as owner: (uid: uid_t, gid: gid_t)?,
                    timeout: Duration = .seconds(300)) async throws -> (status: Int32, output: String) {
        let (exe, full) = SpawnedProcess.command(path, args, as: owner, parentDeathSignal: false)
        let child = try ChildProcess(exe, full, directory: "/", stdout: .capture)
        guard let ended = await child.wait(timeout: timeout) else {
            child.signal(SIGKILL)
            throw ManagedPostgresError("\(path) did not finish within \(timeout): \(child.output.suffix(300))")
        }
        _ = await child.outputClosed(timeout: .seconds(5))
        return (ended.status, child.output)
    }
}

public struct ManagedPostgresError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
