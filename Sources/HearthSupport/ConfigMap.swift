import Foundation
import Yams

/// An error in a definition or configuration file, naming file, line and key.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let key: String
    public let message: String

    public init(file: String, line: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "\(key): ")\(message)"
    }
}

/// A YAML mapping read strictly: typed accessors with defaults and bounds, and
/// `finish()` rejects every key that no accessor asked for.
public final class ConfigMap {
    public let file: String
    public let path: String
    private let node: Node.Mapping?
    private let line: Int?
    private var used: Set<String> = []

    /// Parses `yaml` (from `file`, for messages). An empty document is an empty mapping.
    public convenience init(file: String, yaml: String) throws(ConfigError) {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, line: ConfigMap.line(of: error), key: "", message: "is not valid YAML")
        } catch {
            throw ConfigError(file: file, line: nil, key: "", message: "is not valid YAML")
        }
        guard let node else { self.init(file: file, path: "", node: nil, line: nil); return }
        guard case .mapping(let m) = node else {
            throw ConfigError(file: file, line: node.mark?.line, key: "", message: "must be a mapping of keys to values")
        }
        self.init(file: file, path: "", node: m, line: node.mark?.line)
    }

    /// Reads a file from disk.
    public convenience init(contentsOf url: URL) throws(ConfigError) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw ConfigError(file: url.path, line: nil, key: "", message: "cannot be read")
        }
        try self.init(file: url.lastPathComponent, yaml: text)
    }

    init(file: String, path: String, node: Node.Mapping?, line: Int?) {
        self.file = file
        self.path = path
        self.node = node
        self.line = line
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private func fullKey(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func value(_ key: String) -> Node? {
        used.insert(key)
        guard let node else { return nil }
        for (k, v) in node where k.string == key {
            if case .scalar(let s) = v, s.tag == Tag(.null) || (s.string == "~" || s.string == "null") { return nil }
            return v
        }
        return nil
    }

    public func error(_ key: String, _ message: String, at node: Node? = nil) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line ?? keyLine(key) ?? line, key: fullKey(key), message: message)
    }

    private func keyLine(_ key: String) -> Int? {
        node?.first(where: { $0.key.string == key })?.key.mark?.line
    }

    public func has(_ key: String) -> Bool { node?.contains { $0.key.string == key } ?? false }

    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .scalar(let s) = v else { throw error(key, "must be a string", at: v) }
        return s.string
    }

    public func string(_ key: String, default fallback: String) throws(ConfigError) -> String {
        try string(key) ?? fallback
    }

    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let s = try string(key), !s.isEmpty else { throw error(key, "is required") }
        return s
    }

    public func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let v = value(key) else { return fallback }
        guard let i = v.int else { throw error(key, "must be an integer", at: v) }
        guard range.contains(i) else { throw error(key, "must be between \(range.lowerBound) and \(range.upperBound)", at: v) }
        return i
    }

    public func bool(_ key: String, default fallback: Bool) throws(ConfigError) -> Bool {
        guard let v = value(key) else { return fallback }
        guard case .scalar = v, let b = v.bool else { throw error(key, "must be true or false", at: v) }
        return b
    }

    public func double(_ key: String, default fallback: Double) throws(ConfigError) -> Double {
        guard let v = value(key) else { return fallback }
        guard case .scalar = v, let d = v.float else { throw error(key, "must be a number", at: v) }
        return d
    }

    /// A list of strings; a single string is accepted as a one-element list.
    public func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = value(key) else { return nil }
        switch v {
        case .scalar(let s): return [s.string]
        case .sequence(let seq):
            var out: [String] = []
            for item in seq {
                guard case .scalar(let s) = item else { throw error(key, "must be a list of strings", at: item) }
                out.append(s.string)
            }
            return out
        default: throw error(key, "must be a list of strings", at: v)
        }
    }

    /// A list of lists of strings (an absent key gives an empty list).
    public func stringLists(_ key: String) throws(ConfigError) -> [[String]] {
        guard let v = value(key) else { return [] }
        guard case .sequence(let outer) = v else { throw error(key, "must be a list of lists of strings", at: v) }
        var out: [[String]] = []
        for group in outer {
            guard case .sequence(let inner) = group else { throw error(key, "must be a list of lists of strings", at: group) }
            var items: [String] = []
            for item in inner {
                guard case .scalar(let s) = item else { throw error(key, "must be a list of lists of strings", at: item) }
                items.append(s.string)
            }
            out.append(items)
        }
        return out
    }

    /// A nested mapping (an absent key gives an empty one).
    public func map(_ key: String) throws(ConfigError) -> ConfigMap {
        guard let v = value(key) else { return ConfigMap(file: file, path: fullKey(key), node: nil, line: keyLine(key)) }
        guard case .mapping(let m) = v else { throw error(key, "must be a mapping", at: v) }
        return ConfigMap(file: file, path: fullKey(key), node: m, line: v.mark?.line)
    }

    /// A mapping of strings to scalars, passed through (e.g. librdkafka properties).
    public func stringMap(_ key: String) throws(ConfigError) -> [String: String] {
        guard let v = value(key) else { return [:] }
        guard case .mapping(let m) = v else { throw error(key, "must be a mapping", at: v) }
        var out: [String: String] = [:]
        for (k, val) in m {
            guard let name = k.string, case .scalar(let s) = val else {
                throw error(key, "values must be strings or numbers", at: val)
            }
            out[name] = s.string
        }
        return out
    }

    /// The keys present, in file order.
    public var keys: [String] { node?.compactMap { $0.key.string } ?? [] }

    /// Rejects keys no accessor asked for.
    public func finish() throws(ConfigError) {
        guard let node else { return }
        for (k, _) in node {
            let name = k.string ?? "?"
            if !used.contains(name) {
                throw ConfigError(file: file, line: k.mark?.line, key: fullKey(name), message: "unknown key")
            }
        }
    }
}

/// Definitions read from every `*.yaml` of a directory, sorted by file name, with unique names.
public enum DefinitionDirectory {
    /// - Parameters:
    ///   - extensions: file name endings read (YAML by default).
    ///   - allowEmpty: whether a directory with no such file (or none at all) is an empty list rather than an error.
    public static func load<T>(_ directory: URL, kind: String, extensions: [String] = [".yaml", ".yml"], allowEmpty: Bool = false,
                               parse: (_ file: String, _ text: String) throws(ConfigError) -> T,
                               name: (T) -> String) throws(ConfigError) -> [T] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { f in extensions.contains { f.hasSuffix($0) } }.sorted()
        guard !files.isEmpty || allowEmpty else {
            throw ConfigError(file: directory.path, line: nil, key: "", message: "holds no \(kind) (*\(extensions[0]))")
        }
        var seen: [String: String] = [:]
        var out: [T] = []
        for file in files {
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else {
                throw ConfigError(file: file, line: nil, key: "", message: "cannot be read")
            }
            let definition = try parse(file, text)
            if let other = seen[name(definition)] {
                throw ConfigError(file: file, line: nil, key: "name", message: "\"\(name(definition))\" is also the name in \(other)")
            }
            seen[name(definition)] = file
            out.append(definition)
        }
        return out
    }
}
