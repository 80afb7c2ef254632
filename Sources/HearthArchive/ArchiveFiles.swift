import CSpawn
import Foundation

/// What went wrong in the archive, as one readable line.
public enum ArchiveError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A file operation failed (disk full, permissions, …).
    case io(String)
    /// Archive contents are not what the manifest says.
    case corrupt(String)
    /// A caller's request cannot be served (unknown topic, bad range, …).
    case invalid(String)

    public var description: String {
        switch self {
        case .io(let m), .corrupt(let m), .invalid(let m): m
        }
    }
}

/// Small, explicit POSIX file operations: the archive's durability depends on each of them.
enum POSIX {
    static func errorText() -> String { String(cString: strerror(errno)) }

    /// Creates `path` for writing; fails if it exists.
    static func createExclusive(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArchiveError.io("cannot create \(path): \(errorText())") }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.io("cannot write \(path): \(errorText())")
            }
            done += n
        }
    }

    static func fsyncFile(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else { throw ArchiveError.io("cannot fsync \(path): \(errorText())") }
    }

    /// fsyncs a directory, so that a rename or a new entry in it survives a power cut.
    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io("cannot open directory \(path): \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ArchiveError.io("cannot fsync directory \(path): \(errorText())") }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw ArchiveError.io("cannot rename \(from) to \(to): \(errorText())") }
    }

    /// Creates `path` and any missing parents, fsyncing each parent that gained an entry.
    static func makeDirectories(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ArchiveError.io("cannot create directory \(path): \(errorText())")
        }
        if !parent.isEmpty { try fsyncDirectory(parent) }
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }
}

/// A file written through a temporary name: nothing is visible under `path` until `commit`,
/// which fsyncs the data, renames it into place and fsyncs the directory.
public final class AtomicFile {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    public private(set) var bytesWritten = 0

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        temporaryPath = dir + "/." + name + "." + String(UInt32.random(in: 0...UInt32.max), radix: 16) + ArchiveLayout.temporarySuffix
        fd = try POSIX.createExclusive(temporaryPath)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try POSIX.writeAll(fd, bytes, path: temporaryPath)
        bytesWritten += bytes.count
    }

    /// Starts writing the data to disk without waiting (so that fsyncs of several files overlap).
    public func startWriteback() {
        _ = hearth_start_writeback(fd)
    }

    /// Makes the file durable under its final name; `beforeRename` runs between fsync and rename. Without
    /// `syncDirectory` the caller fsyncs the directory itself (once for several files) before relying on it.
    public func commit(syncDirectory: Bool = true, beforeRename: () -> Void = {}) throws {
        try POSIX.fsyncFile(fd, path: temporaryPath)
        close(fd)
        fd = -1
        beforeRename()
        try POSIX.rename(temporaryPath, path)
        if syncDirectory { try POSIX.fsyncDirectory((path as NSString).deletingLastPathComponent) }
    }

    /// Drops the temporary file.
    public func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporaryPath)
    }
}

/// A zstd-compressed JSON Lines file written under a temporary name and made durable by `commit`
/// (fsync, rename, directory fsync): for aggregate partitions archived before they are dropped.
public final class CompressedLinesFile {
    public let path: String
    private let file: AtomicFile
    private let compressor: ZstdCompressor
    public private(set) var lines = 0

    public init(path: String, compression: ZstdParameters = .jsonLines) throws {
        self.path = path
        try POSIX.makeDirectories((path as NSString).deletingLastPathComponent)
        let file = try AtomicFile(path: path)
        self.file = file
        compressor = try ZstdCompressor(compression) { try file.write($0) }
    }

    /// Appends each string as one line (they must hold no newline).
    public func write(_ newLines: [String]) throws {
        var buffer: [UInt8] = []
        for l in newLines {
            buffer.append(contentsOf: l.utf8)
            buffer.append(0x0A)
        }
        try compressor.write(buffer)
        lines += newLines.count
    }

    public func commit() throws {
        try compressor.finish()
        try file.commit()
    }
}
