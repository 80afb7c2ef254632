import Foundation
import HearthAnalytics
import HearthArchive
import HearthSupport

/// Hearth's settings. Each comes from a command-line flag, else the environment
/// variable `HEARTH_<NAME>`, else `hearth.yaml`, else its embedded default.
public struct Settings: Sendable, Equatable {
    /// Kafka bootstrap servers; nil starts the development cluster in process.
    public var brokers: String?
    /// PostgreSQL URL; nil starts the managed server in `<dataDirectory>/postgres`.
    public var postgres: String?
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "hearth-data"
    public var pipelinesDirectory = "Pipelines"
    public var indexesDirectory = "Indexes"
    public var reportsDirectory = "Reports"
    /// Reports running longer are cancelled in PostgreSQL (503 `report_timeout`).
    public var reportTimeLimitSeconds = 10
    public var logLevel = "info"
    /// Partitions of each topic the development cluster creates.
    public var devPartitions = 12
    /// Search ranks by orders of the last `popularityDays` days, recounted every `popularityRefreshSeconds`.
    public var popularityDays = 30
    public var popularityRefreshSeconds = 60
    /// How long aggregates are kept (whole months go once they ended this long ago).
    public var retention = AggregateRetention()
    /// Zones whose local days the aggregates keep whole, so that reports by day, week or month there
    /// read one row per day (`ZoneDayMigration`); other zones are cut from hours and quarter hours.
    public var reportZones = AnalyticsSink.defaultReportZones
    /// How archive segments are cut, compressed and buffered.
    public var archive = ArchiveSettings()
    public var auth = AuthSettings()
    /// Browser origins allowed to call the API (CORS); empty: none.
    public var corsOrigins: [String] = []
    /// Per-client limit on public endpoints: requests a second and burst (0: no limit).
    public var rateLimitPerSecond = 100
    public var rateLimitBurst = 200
    /// `json` (one object per line) or `text`.
    public var logFormat = "json"

    public init() {}

    /// The documented settings: key in `hearth.yaml`, environment variable, meaning.
    public static let documented: [(key: String, env: String, help: String)] = [
        ("brokers", "HEARTH_BROKERS", "Kafka bootstrap servers; unset starts the development cluster in process"),
        ("postgres", "HEARTH_POSTGRES", "PostgreSQL URL; unset starts a managed server in <data_dir>/postgres"),
        ("host", "HEARTH_HOST", "address the HTTP API listens on (default 127.0.0.1)"),
        ("port", "HEARTH_PORT", "HTTP port (default 8080)"),
        ("data_dir", "HEARTH_DATA_DIR", "runtime data: search index, managed PostgreSQL, archive (default hearth-data)"),
        ("pipelines_dir", "HEARTH_PIPELINES_DIR", "folder of pipeline definitions (default Pipelines)"),
        ("indexes_dir", "HEARTH_INDEXES_DIR", "folder of search index definitions (default Indexes)"),
        ("reports_dir", "HEARTH_REPORTS_DIR", "folder of report definitions (default Reports)"),
        ("report_time_limit_seconds", "", "reports running longer are cancelled (default 10)"),
        ("log_level", "HEARTH_LOG_LEVEL", "trace, debug, info, notice, warning, error or critical (default info)"),
        ("log_format", "HEARTH_LOG_FORMAT", "json (one object per line, with request ids) or text (default json)"),
        ("cors_origins", "HEARTH_CORS_ORIGINS", "browser origins allowed to call the API (default none)"),
        ("rate_limit.per_second / .burst", "HEARTH_RATE_LIMIT_PER_SECOND", "per-client limit on public endpoints (default 100 a second, bursts of 200; 0: off)"),
        ("dev_partitions", "HEARTH_DEV_PARTITIONS", "partitions per topic in the development cluster (default 12)"),
        ("popularity_days", "HEARTH_POPULARITY_DAYS", "search ranks by orders of this many recent days (default 30)"),
        ("popularity_refresh_seconds", "HEARTH_POPULARITY_REFRESH_SECONDS", "how often search recounts orders (default 60)"),
        ("retention.quarter_hour_days", "HEARTH_RETENTION_QUARTER_HOUR_DAYS", "days the 15-minute aggregates are kept (default 180)"),
        ("retention.rollup_days", "HEARTH_RETENTION_ROLLUP_DAYS", "days the hour and day rollups and item orders per day are kept (default 1825)"),
        ("report_zones", "HEARTH_REPORT_ZONES", "IANA zones whose local days reports read whole, comma-separated (default the platform's ten city zones; at most 32)"),
        ("archive.segment_mb", "HEARTH_ARCHIVE_SEGMENT_MB", "an archive segment is closed at this many MiB of JSON Lines (default 64)"),
        ("archive.segment_records", "HEARTH_ARCHIVE_SEGMENT_RECORDS", "… or at this many records (default 500000)"),
        ("archive.segment_age_seconds", "HEARTH_ARCHIVE_SEGMENT_AGE_SECONDS", "… or this long after its first record (default 300)"),
        ("archive.idle_flush_seconds", "HEARTH_ARCHIVE_IDLE_FLUSH_SECONDS", "… or when its partition had no record for this long (default 30)"),
        ("archive.memory_budget_mb", "HEARTH_ARCHIVE_MEMORY_BUDGET_MB", "MiB all unwritten segments may hold together (default 256)"),
        ("archive.compression_level", "", "zstd level of archive segments, 1 to 19 (default 1)"),
        ("archive.compression_min_match", "", "zstd minimum match length of archive segments, 3 to 7, or 0 for the level's own (default 0: 6 at level 1)"),
        ("archive.compression_threads", "", "segments compressed at once, each on one thread (default: the cores, at most 4)"),
    ]

    /// Layers a configuration file (if any) and the environment over the defaults.
    public static func load(configFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> Settings {
        var s = Settings()
        if let configFile {
            guard let text = try? String(contentsOfFile: configFile, encoding: .utf8) else {
                throw ConfigError(file: configFile, line: nil, key: "", message: "cannot be read")
            }
            let map = try ConfigMap(file: configFile, yaml: text)
            s.brokers = try map.string("brokers")
            s.postgres = try map.string("postgres")
            s.host = try map.string("host", default: s.host)
            s.port = try map.int("port", default: s.port, range: 0...65535)
            s.dataDirectory = try map.string("data_dir", default: s.dataDirectory)
            s.pipelinesDirectory = try map.string("pipelines_dir", default: s.pipelinesDirectory)
            s.indexesDirectory = try map.string("indexes_dir", default: s.indexesDirectory)
            s.reportsDirectory = try map.string("reports_dir", default: s.reportsDirectory)
            s.reportTimeLimitSeconds = try map.int("report_time_limit_seconds", default: s.reportTimeLimitSeconds, range: 1...600)
            s.logLevel = try map.string("log_level", default: s.logLevel)
            s.devPartitions = try map.int("dev_partitions", default: s.devPartitions, range: 1...256)
            s.popularityDays = try map.int("popularity_days", default: s.popularityDays, range: 1...3650)
            s.popularityRefreshSeconds = try map.int("popularity_refresh_seconds", default: s.popularityRefreshSeconds, range: 1...86_400)
            s.corsOrigins = try map.strings("cors_origins") ?? []
            let rate = try map.map("rate_limit")
            s.rateLimitPerSecond = try rate.int("per_second", default: s.rateLimitPerSecond, range: 0...1_000_000)
            s.rateLimitBurst = try rate.int("burst", default: s.rateLimitBurst, range: 1...1_000_000)
            try rate.finish()
            s.reportZones = try map.strings("report_zones") ?? s.reportZones
            let retention = try map.map("retention")
            s.retention.quarterHourDays = try retention.int("quarter_hour_days", default: s.retention.quarterHourDays, range: 1...36_500)
            s.retention.rollupDays = try retention.int("rollup_days", default: s.retention.rollupDays, range: 1...36_500)
            try retention.finish()
            let archive = try map.map("archive")
            s.archive.segmentBytes = try archive.int("segment_mb", default: s.archive.segmentBytes >> 20, range: 1...4096) << 20
            s.archive.segmentRecords = try archive.int("segment_records", default: s.archive.segmentRecords, range: 1...100_000_000)
            s.archive.segmentAgeSeconds = Double(try archive.int("segment_age_seconds", default: Int(s.archive.segmentAgeSeconds), range: 1...86_400))
            s.archive.idleFlushSeconds = Double(try archive.int("idle_flush_seconds", default: Int(s.archive.idleFlushSeconds), range: 1...86_400))
            s.archive.memoryBudgetBytes = try archive.int("memory_budget_mb", default: s.archive.memoryBudgetBytes >> 20, range: 8...65_536) << 20
            s.archive.compression.level = Int32(try archive.int("compression_level", default: Int(s.archive.compression.level), range: 1...19))
            let minMatch = try archive.int("compression_min_match", default: Int(s.archive.compression.minMatch), range: 0...7)
            guard minMatch == 0 || ZstdParameters.minMatchRange.contains(Int32(minMatch)) else {
                throw archive.error("compression_min_match", "must be 3 to 7, or 0 for the level's own")
            }
            s.archive.compression.minMatch = Int32(minMatch)
            s.archive.compressionThreads = try archive.int("compression_threads", default: s.archive.compressionThreads, range: 1...64)
            try archive.finish()
            s.logFormat = try map.string("log_format", default: s.logFormat)
            guard ["json", "text"].contains(s.logFormat) else { throw map.error("log_format", "must be json or text") }
            s.auth = try AuthSettings(try map.map("auth"), relativeTo: URL(fileURLWithPath: configFile).deletingLastPathComponent())
            try map.finish()
        }
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        s.brokers = env("HEARTH_BROKERS") ?? s.brokers
        s.postgres = env("HEARTH_POSTGRES") ?? s.postgres
        s.host = env("HEARTH_HOST") ?? s.host
        s.dataDirectory = env("HEARTH_DATA_DIR") ?? s.dataDirectory
        s.pipelinesDirectory = env("HEARTH_PIPELINES_DIR") ?? s.pipelinesDirectory
        s.indexesDirectory = env("HEARTH_INDEXES_DIR") ?? s.indexesDirectory
        s.reportsDirectory = env("HEARTH_REPORTS_DIR") ?? s.reportsDirectory
        s.logLevel = env("HEARTH_LOG_LEVEL") ?? s.logLevel
        s.logFormat = env("HEARTH_LOG_FORMAT") ?? s.logFormat
        if let origins = env("HEARTH_CORS_ORIGINS") { s.corsOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        s.auth.jwtSecret = env("HEARTH_JWT_SECRET") ?? s.auth.jwtSecret
        func envInt(_ name: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let v = env(name) else { return nil }
            guard let n = Int(v), range.contains(n) else {
                throw ConfigError(file: "environment", line: nil, key: name, message: "must be \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        s.port = try envInt("HEARTH_PORT", 0...65535) ?? s.port
        s.rateLimitPerSecond = try envInt("HEARTH_RATE_LIMIT_PER_SECOND", 0...1_000_000) ?? s.rateLimitPerSecond
        s.devPartitions = try envInt("HEARTH_DEV_PARTITIONS", 1...256) ?? s.devPartitions
        s.popularityDays = try envInt("HEARTH_POPULARITY_DAYS", 1...3650) ?? s.popularityDays
        s.popularityRefreshSeconds = try envInt("HEARTH_POPULARITY_REFRESH_SECONDS", 1...86_400) ?? s.popularityRefreshSeconds
        s.retention.quarterHourDays = try envInt("HEARTH_RETENTION_QUARTER_HOUR_DAYS", 1...36_500) ?? s.retention.quarterHourDays
        s.retention.rollupDays = try envInt("HEARTH_RETENTION_ROLLUP_DAYS", 1...36_500) ?? s.retention.rollupDays
        if let mb = try envInt("HEARTH_ARCHIVE_SEGMENT_MB", 1...4096) { s.archive.segmentBytes = mb << 20 }
        s.archive.segmentRecords = try envInt("HEARTH_ARCHIVE_SEGMENT_RECORDS", 1...100_000_000) ?? s.archive.segmentRecords
        if let v = try envInt("HEARTH_ARCHIVE_SEGMENT_AGE_SECONDS", 1...86_400) { s.archive.segmentAgeSeconds = Double(v) }
        if let v = try envInt("HEARTH_ARCHIVE_IDLE_FLUSH_SECONDS", 1...86_400) { s.archive.idleFlushSeconds = Double(v) }
        if let mb = try envInt("HEARTH_ARCHIVE_MEMORY_BUDGET_MB", 8...65_536) { s.archive.memoryBudgetBytes = mb << 20 }
        if let zones = env("HEARTH_REPORT_ZONES") {
            s.reportZones = zones.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard s.reportZones.count <= 32, Set(s.reportZones).count == s.reportZones.count,
              s.reportZones.allSatisfy({ $0.range(of: "^[A-Za-z][A-Za-z0-9_+/-]{0,63}$", options: .regularExpression) != nil && $0 != "UTC" })
        else {
            throw ConfigError(file: configFile ?? "environment", line: nil, key: "report_zones",
                              message: "must be at most 32 distinct IANA zone names such as Asia/Kolkata (UTC has its own day rollup)")
        }
        guard s.retention.rollupDays >= s.retention.quarterHourDays else {
            throw ConfigError(file: configFile ?? "environment", line: nil, key: "retention.rollup_days",
                              message: "must be at least retention.quarter_hour_days (the rollups outlive the 15-minute level)")
        }
        return s
    }

    public var dataURL: URL { URL(fileURLWithPath: dataDirectory).standardizedFileURL }
}

/// Who may call the API: bearer JWTs (HS256 with a shared secret, RS256 or ES256 with public
/// keys) and static API keys, stored as SHA-256 hashes. Read from the `auth` section.
public struct AuthSettings: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable, Comparable {
        case `public`, analyst, admin
        var rank: Int { Self.allCases.firstIndex(of: self)! }
        public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
    }

    public struct APIKey: Sendable, Equatable {
        public var name: String
        /// Lower-case hex SHA-256 of the key.
        public var sha256: String
        public var role: Role
        public init(name: String, sha256: String, role: Role) {
            self.name = name; self.sha256 = sha256; self.role = role
        }
    }

    /// The HS256 secret; nil with no public keys either: a secret generated once in the data directory.
    public var jwtSecret: String?
    /// PEM public keys (RSA for RS256, P-256 for ES256), by key id (`kid`; "" for tokens without one).
    public var publicKeys: [String: String] = [:]
    public var issuer = "hearth"
    public var audience = "hearth"
    public var apiKeys: [APIKey] = []
    /// Whether search and restaurant reads also need credentials.
    public var requireTokenForPublic = false

    public init() {}

    init(_ map: ConfigMap, relativeTo base: URL) throws(ConfigError) {
        jwtSecret = try map.string("jwt_secret")
        if let secret = jwtSecret, secret.utf8.count < 32 {
            throw map.error("jwt_secret", "must be at least 32 characters")
        }
        let keys = try map.map("public_keys")
        for kid in keys.keys {
            let path = try keys.string(kid) ?? ""
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
            guard let pem = try? String(contentsOf: url, encoding: .utf8), pem.contains("PUBLIC KEY") else {
                throw keys.error(kid, "must name a readable PEM public key file")
            }
            publicKeys[kid] = pem
        }
        try keys.finish()
        issuer = try map.string("issuer", default: issuer)
        audience = try map.string("audience", default: audience)
        let apiKeyMap = try map.map("api_keys")
        for name in apiKeyMap.keys {
            let entry = try apiKeyMap.map(name)
            let hash = try entry.requiredString("sha256").lowercased()
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
                throw entry.error("sha256", "must be the 64 hex digits of the key's SHA-256 (hearth hash-key prints it)")
            }
            let roleName = try entry.requiredString("role")
            guard let role = Role(rawValue: roleName) else {
                throw entry.error("role", "must be one of: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try entry.finish()
            apiKeys.append(APIKey(name: name, sha256: hash, role: role))
        }
        try apiKeyMap.finish()
        requireTokenForPublic = try map.bool("require_token_for_public", default: false)
        try map.finish()
    }
}
