import CXapian
import Foundation

/// Owns one Xapian `WritableDatabase` (the single writer of an index directory).
/// Not thread-safe: the owner serialises all calls (the search sink uses one queue).
final class XapianWritableDatabase {
    private let db: OpaquePointer

    /// Opens (or creates) the index at `path`. While another writer holds its lock this waits, up to
    /// `lockWait`, for it to be released: a writer that has just closed can leave the lock held a moment
    /// longer, as by a child process spawned at that instant (it shares the lock's open file until it
    /// execs). Seen once in a clean-clone test run: a test reopening an index right after its sink had
    /// closed it failed with `DatabaseLockError`.
    init(path: String, lockWait: Duration = .seconds(2)) throws(XapianError) {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let deadline = ContinuousClock.now + lockWait
        while true {
            var err: UnsafeMutablePointer<CChar>?
            if let db = hx_wdb_open(path, &err) {
                self.db = db
                return
            }
            let error = XapianError.take(err)
            guard error.isLocked, ContinuousClock.now < deadline else { throw error }
            usleep(10_000)
        }
    }

    deinit { hx_wdb_close(db) }

    /// Closes the database now, releasing the directory's write lock (rather than when the last
    /// reference goes, which may be later than the owner expects). Later calls throw.
    func close() throws(XapianError) {
        try check { hx_wdb_release(db, $0) }
    }

    /// Writes `document` as the one indexed by `idTerm` (replacing it, or added); returns its docid.
    @discardableResult
    func replace(idTerm: String, document: XapianDocument) throws(XapianError) -> UInt32 {
        var docid: UInt32 = 0
        try check { hx_wdb_replace(db, idTerm, document.pointer, &docid, $0) }
        return docid
    }

    /// Writes `document` as document `docid`, which exists.
    func replace(docid: UInt32, document: XapianDocument) throws(XapianError) {
        try check { hx_wdb_replace_docid(db, docid, document.pointer, $0) }
    }

    /// Adds `document` as a new document; returns its docid.
    func add(document: XapianDocument) throws(XapianError) -> UInt32 {
        var docid: UInt32 = 0
        try check { hx_wdb_add(db, document.pointer, &docid, $0) }
        return docid
    }

    /// Deletes every document holding `idTerm`.
    func delete(idTerm: String) throws(XapianError) {
        try check { hx_wdb_delete(db, idTerm, $0) }
    }

    /// Deletes document `docid`, which exists.
    func delete(docid: UInt32) throws(XapianError) {
        try check { hx_wdb_delete_docid(db, docid, $0) }
    }

    func setMetadata(_ key: String, _ value: String) throws(XapianError) {
        try check { hx_wdb_set_metadata(db, key, value, $0) }
    }

    /// The metadata value, or nil when unset.
    func metadata(_ key: String) throws(XapianError) -> String? {
        var err: UnsafeMutablePointer<CChar>?
        guard let p = hx_wdb_get_metadata(db, key, &err) else { throw XapianError.take(err) }
        defer { hx_free(p) }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    /// The data of the document indexed by `idTerm`, or nil when there is none.
    func data(idTerm: String) throws(XapianError) -> [UInt8]? {
        try document(idTerm: idTerm)?.data
    }

    /// The docid and data of the document indexed by `idTerm`, or nil when there is none.
    func document(idTerm: String) throws(XapianError) -> (docid: UInt32, data: [UInt8])? {
        var docid: UInt32 = 0
        return try Self.taken { hx_wdb_get_data(db, idTerm, &$0, &docid, &$1) }.map { (docid, $0) }
    }

    /// The data of document `docid`, or nil when there is none.
    func data(docid: UInt32) throws(XapianError) -> [UInt8]? {
        try Self.taken { hx_wdb_get_data_docid(db, docid, &$0, &$1) }
    }

    /// The bytes of a malloc'd buffer `read` returns (freed here), with the length it sets; nil when it returns
    /// NULL without an error.
    private static func taken(_ read: (inout Int, inout UnsafeMutablePointer<CChar>?) -> UnsafeMutablePointer<CChar>?)
        throws(XapianError) -> [UInt8]? {
        var err: UnsafeMutablePointer<CChar>?
        var len = 0
        guard let p = read(&len, &err) else {
            if err != nil { throw XapianError.take(err) }
            return nil
        }
        defer { hx_free(p) }
        return Array(UnsafeRawBufferPointer(start: p, count: len))
    }

    /// The docid and data of every document holding `term`.
    func documents(withTerm term: String) throws(XapianError) -> [(docid: UInt32, data: [UInt8])] {
        var out: [(docid: UInt32, data: [UInt8])] = []
        try withUnsafeMutablePointer(to: &out) { ctx throws(XapianError) in
            try check {
                hx_wdb_postings(db, term, { ctx, docid, data, len in
                    ctx!.assumingMemoryBound(to: [(docid: UInt32, data: [UInt8])].self).pointee
                        .append((docid, Array(UnsafeRawBufferPointer(start: data, count: len))))
                }, ctx, $0)
            }
        }
        return out
    }

    /// Every term starting with `prefix`, with the first document holding it: its docid, its data (Xapian's
    /// document data when it has some, as suggestions keep it, else the data slot), and whether that was in the data slot.
    func documents(withTermPrefix prefix: String) throws(XapianError)
        -> [(term: String, docid: UInt32, data: [UInt8], inSlot: Bool)] {
        typealias Found = [(term: String, docid: UInt32, data: [UInt8], inSlot: Bool)]
        var out: Found = []
        try withUnsafeMutablePointer(to: &out) { ctx throws(XapianError) in
            try check {
                hx_wdb_terms(db, prefix, { ctx, term, termLength, docid, data, len, inSlot in
                    let term = String(decoding: UnsafeRawBufferPointer(start: term, count: termLength), as: UTF8.self)
                    ctx!.assumingMemoryBound(to: Found.self).pointee
                        .append((term, docid, Array(UnsafeRawBufferPointer(start: data, count: len)), inSlot != 0))
                }, ctx, $0)
            }
        }
        return out
    }

    /// Applies `body`'s changes in one flushed transaction, or none of them when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try check { hx_wdb_begin(db, $0) }
        do {
            let result = try body()
            try check { hx_wdb_commit_transaction(db, $0) }
            return result
        } catch {
            var err: UnsafeMutablePointer<CChar>?
            if hx_wdb_cancel(db, &err) != 0 { hx_free(err) }
            throw error
        }
    }

    func commit() throws(XapianError) {
        try check { hx_wdb_commit(db, $0) }
    }

    /// The document holding `term`, or nil when none does.
    func docid(_ term: String) throws(XapianError) -> UInt32? {
        var err: UnsafeMutablePointer<CChar>?
        let n = hx_wdb_docid(db, term, &err)
        if n < 0 { throw XapianError.take(err) }
        return n == 0 ? nil : UInt32(n)
    }

    /// The value in `slot` of every document that has one.
    func values(slot: UInt32) throws(XapianError) -> [UInt32: [UInt8]] {
        var out: [UInt32: [UInt8]] = [:]
        try withUnsafeMutablePointer(to: &out) { ctx throws(XapianError) in
            try check {
                hx_wdb_values(db, slot, { ctx, docid, value, len in
                    ctx!.assumingMemoryBound(to: [UInt32: [UInt8]].self).pointee[docid] = Array(UnsafeRawBufferPointer(start: value, count: len))
                }, ctx, $0)
            }
        }
        return out
    }

    /// Sets one value of a document (an empty value removes it); its terms and data stay as they are.
    func setValue(docid: UInt32, slot: UInt32, _ value: [UInt8]) throws(XapianError) {
        try setValues(docid: docid, [(slot, value)])
    }

    /// Sets values of a document, which must exist (an empty value removes one; `XapianDocument.dataSlot` is its data). Its terms
    /// stay as they are, so Xapian rewrites neither its term list nor its postings: far cheaper than `replace`. With
    /// `replacingAll`, `values` become all of its values (the others are removed unread, which saves a look-up each).
    func setValues(docid: UInt32, _ values: [(slot: UInt32, value: [UInt8])], replacingAll: Bool = false) throws(XapianError) {
        let slots = values.map { CUnsignedInt($0.slot) }
        let lens = values.map { $0.value.count }
        var err: UnsafeMutablePointer<CChar>?
        let status = values.flatMap(\.value).withUnsafeBytes { bytes in
            var offset = 0
            let pointers = lens.map { len -> UnsafePointer<CChar>? in
                defer { offset += len }
                return bytes.baseAddress.map { ($0 + offset).assumingMemoryBound(to: CChar.self) }
            }
            return hx_wdb_set_values(db, docid, slots, pointers, lens, values.count, replacingAll ? 1 : 0, &err)
        }
        if status != 0 { throw XapianError.take(err) }
    }

    /// Sets Xapian's own document data of a document, which must exist (suggestions keep theirs there: see `doc_data` in
    /// cxapian.cpp). Its terms stay as they are, and its values too unless `clearingValues`: Xapian rewrites one docdata entry.
    func setDocumentData(docid: UInt32, _ bytes: [UInt8], clearingValues: Bool = false) throws(XapianError) {
        var err: UnsafeMutablePointer<CChar>?
        let status = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { hx_wdb_set_document_data(db, docid, $0.baseAddress, $0.count, clearingValues ? 1 : 0, &err) }
        }
        if status != 0 { throw XapianError.take(err) }
    }

    func documentCount(withTerm term: String) throws(XapianError) -> Int {
        var err: UnsafeMutablePointer<CChar>?
        let n = hx_wdb_termfreq(db, term, &err)
        if n < 0 { throw XapianError.take(err) }
        return n
    }

    /// How many zlib streams this process set up to store Xapian's term lists uncompressed (`deflate_tuning.cpp`):
    /// more than zero once a writer has written a term list, unless the process did not take our set-up.
    static var uncompressedTermListStreams: UInt { UInt(hx_deflate_tuned_streams()) }

    func documentCount() throws(XapianError) -> Int {
        var err: UnsafeMutablePointer<CChar>?
        let n = hx_wdb_doccount(db, &err)
        if n < 0 { throw XapianError.take(err) }
        return n
    }
}

/// A document under construction; freed on `deinit`.
final class XapianDocument {
    let pointer: OpaquePointer
    /// The value slot that holds a document's data (see `HX_DATA_SLOT`).
    static let dataSlot = UInt32(HX_DATA_SLOT)

    init() { pointer = hx_doc_new() }

    deinit { hx_doc_free(pointer) }

    func setData(_ bytes: [UInt8]) throws(XapianError) {
        var data = bytes.map { CChar(bitPattern: $0) }
        data.append(0)
        try check { hx_doc_set_data(pointer, data, bytes.count, $0) }
    }

    /// Sets Xapian's own document data rather than the data slot: for suggestions only (see `doc_data` in cxapian.cpp).
    func setDocumentData(_ bytes: [UInt8]) throws(XapianError) {
        try bytes.withUnsafeBufferPointer { b throws(XapianError) in
            try b.withMemoryRebound(to: CChar.self) { c throws(XapianError) in
                try check { hx_doc_set_document_data(pointer, c.baseAddress, c.count, $0) }
            }
        }
    }

    func addBooleanTerm(_ term: String) throws(XapianError) {
        try check { hx_doc_add_boolean_term(pointer, term, $0) }
    }

    func indexText(_ text: String, weight: UInt32 = 1, prefix: String = "") throws(XapianError) {
        try check { hx_doc_index_text(pointer, text, weight, prefix, $0) }
    }

    func addValue(_ slot: UInt32, _ value: String) throws(XapianError) {
        try check { hx_doc_add_value(pointer, slot, value, value.utf8.count, $0) }
    }

    func addValue(_ slot: UInt32, number: Double) throws(XapianError) {
        try addValue(slot, bytes: Sortable.encode(number))
    }

    func addValue(_ slot: UInt32, bytes: [UInt8]) throws(XapianError) {
        try bytes.withUnsafeBufferPointer { b throws(XapianError) in
            try b.withMemoryRebound(to: CChar.self) { c throws(XapianError) in
                try check { hx_doc_add_value(pointer, slot, c.baseAddress, c.count, $0) }
            }
        }
    }
}
