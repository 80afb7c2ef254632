import CZstd
import Foundation

/// A zstd error, with the library's own message.
public struct ZstdError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func check(_ code: Int, _ what: String) throws -> Int {
        if ZSTD_isError(code) != 0 { throw ZstdError("\(what): \(String(cString: ZSTD_getErrorName(code)))") }
        return code
    }
}

/// How a zstd frame is compressed: a level, and a minimum match length in place of the level's own.
public struct ZstdParameters: Sendable, Equatable {
    public var level: Int32
    /// Matches shorter than this are not used (3 to 7); 0 keeps the level's own (5 at levels 3 and 4).
    public var minMatch: Int32

    public init(level: Int32 = 3, minMatch: Int32 = 0) {
        self.level = level
        self.minMatch = minMatch
    }

    /// For JSON Lines (archive segments, exports): level 1. Lines repeat their keys and values in long runs,
    /// which level 1's single hash probe finds as well as level 3's two: on `hearth bench archive`'s
    /// stream (zstd 1.5.4 CLI, one thread) level 1 is 5.6% smaller than level 3 with 6-byte minimum
    /// matches (the setting before) and takes 35% less time (README, "Archive").
    public static let jsonLines = ZstdParameters(level: 1)
    /// Valid minimum match lengths (zstd's own bounds).
    public static let minMatchRange: ClosedRange<Int32> = 3...7
}

/// Streaming zstd compression into a sink of byte chunks (a file, an HTTP body). One frame,
/// with a content checksum, as the `zstd` CLI writes it.
public final class ZstdCompressor {
    private let cctx: OpaquePointer
    private var out: [UInt8]
    private let emit: (UnsafeRawBufferPointer) throws -> Void

    public init(_ parameters: ZstdParameters = .jsonLines, emit: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let c = ZSTD_createCCtx() else { throw ZstdError("cannot create a zstd compression context") }
        cctx = c
        out = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        self.emit = emit
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, parameters.level), "compression level")
        if parameters.minMatch != 0 {
            _ = try ZstdError.check(ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, parameters.minMatch), "minimum match")
        }
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1), "checksum flag")
    }

    deinit { ZSTD_freeCCtx(cctx) }

    /// Memory the compression context holds.
    public var memoryBytes: Int { ZSTD_sizeof_CCtx(cctx) }

    /// Compresses `bytes` (output may lag behind input until `finish`).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Ends the frame and emits everything still buffered.
    public func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        let capacity = out.count
        let (remaining, produced): (Int, Int) = try out.withUnsafeMutableBytes { buf in
            var output = ZSTD_outBuffer(dst: buf.baseAddress, size: capacity, pos: 0)
            let r = try ZstdError.check(ZSTD_compressStream2(cctx, &output, &input, mode), "compression")
            return (r, output.pos)
        }
        if produced > 0 { try out.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
        return remaining
    }
}

/// Streaming zstd decompression of a file (one or more frames), pulled chunk by chunk so that a
/// reader holds a fixed amount of memory. A frame cut short is an error.
public final class ZstdFileReader {
    private let dctx: OpaquePointer
    private let fd: Int32
    private let path: String
    private var input: [UInt8]
    private var inputSize = 0
    private var inputPos = 0
    private var output: [UInt8]
    private var pending = 0
    private var sawInput = false
    private var atEOF = false
    private let hasher: HashBox?
    /// Compressed bytes read so far.
    public private(set) var compressedBytesRead = 0

    /// `hashing`: keep a SHA-256 of the compressed bytes (`sha256` once the file is read).
    init(path: String, hashing: Bool = false) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard let d = ZSTD_createDCtx() else { close(fd); throw ZstdError("cannot create a zstd decompression context") }
        dctx = d
        input = [UInt8](repeating: 0, count: max(ZSTD_DStreamInSize(), 1 << 17))
        output = [UInt8](repeating: 0, count: max(ZSTD_DStreamOutSize(), 1 << 18))
        hasher = hashing ? HashBox() : nil
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        close(fd)
    }

    var sha256: String? { hasher?.hex }

    /// Calls `body` with the next chunk of decompressed bytes; returns false at the end of the file.
    func next(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        while true {
            if inputPos == inputSize && !atEOF {
                let cap = input.count
                let n = input.withUnsafeMutableBytes { read(fd, $0.baseAddress, cap) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ArchiveError.io("cannot read \(path): \(String(cString: strerror(errno)))")
                }
                if n == 0 {
                    atEOF = true
                } else {
                    sawInput = true
                    compressedBytesRead += n
                    inputSize = n
                    inputPos = 0
                    if let hasher { input.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
                }
            }
            guard sawInput || !atEOF else { throw ZstdError("\(path) is empty") }
            if atEOF && inputPos == inputSize && pending == 0 { return false }
            let outCap = output.count
            let size = inputSize
            var pos = inputPos
            let (r, produced): (Int, Int) = try input.withUnsafeBytes { inBytes in
                try output.withUnsafeMutableBytes { buf in
                    var inBuf = ZSTD_inBuffer(src: inBytes.baseAddress, size: size, pos: pos)
                    var outBuf = ZSTD_outBuffer(dst: buf.baseAddress, size: outCap, pos: 0)
                    let r = try ZstdError.check(ZSTD_decompressStream(dctx, &outBuf, &inBuf), "\(path)")
                    pos = inBuf.pos
                    return (r, outBuf.pos)
                }
            }
            inputPos = pos
            pending = r
            if produced > 0 {
                try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
                return true
            }
            if atEOF && inputPos == inputSize { throw ZstdError("\(path) ends inside a zstd frame (truncated)") }
        }
    }

    /// Calls `body` with every chunk, in order.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while try next(body) {}
    }
}
