#include "cxapian.h"
#include <xapian.h>
#include <cmath>
#include <algorithm>
#include <array>
#include <unordered_map>
#include <cstdlib>
#include <cstring>
#include <string>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <fcntl.h>
#include <unistd.h>

/* The writer notes the documents it writes whole (added or replaced) and, in each commit, lists
 * them under the metadata key "hearth:written:<revision>" (see `note_written`): readers bring
 * what they hold per document (FacetColumn) up to a new revision from these lists, without
 * reading every document again. Documents whose values alone are set are not listed. */
static const char *const written_key_prefix = "hearth:written:";
/* How many revisions' lists are kept; a reader further behind reads everything again. */
static const Xapian::rev written_revisions_kept = 64;

/* `each(field, value)` for each non-empty field of a packed facet value (fields separated by 0x1F),
 * the first `fields` of them; stops early when `each` returns false. */
template <typename F>
static bool each_packed_field(const std::string &v, size_t fields, F each) {
    size_t start = 0;
    for (size_t field = 0; field < fields && start <= v.size(); ++field) {
        size_t end = v.find('\x1f', start);
        if (end == std::string::npos) end = v.size();
        if (end > start && !each(field, v.substr(start, end - start))) return false;
        start = end + 1;
    }
    return true;
}

/* Starts the kernel writing out the index's dirty table pages while a transaction is still being written (as
 * RocksDB's bytes_per_sync does). Glass fsyncs each table at commit, and the writer waited there for everything
 * the batch had written: about 7% of a catalog load's time, most of it the postlist table, whose blocks glass
 * writes during the commit itself. So while a transaction is open, a thread of its own asks the kernel every
 * 10 ms to start writing what is dirty (sync_file_range with SYNC_FILE_RANGE_WRITE, which waits for nothing
 * to reach the disk). Durability is unchanged: each commit still fsyncs its tables before it writes its version
 * file; their pages are only under way sooner. */
class WritebackPump {
public:
    explicit WritebackPump(std::string dir) : dir_(std::move(dir)), thread_([this] { run(); }) {}
    ~WritebackPump() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
        for (int fd : fds_) if (fd >= 0) ::close(fd);
    }
    void set_active(bool active) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            active_ = active;
        }
        if (active) wake_.notify_all();
    }

private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stop_) {
            if (!active_) {
                wake_.wait(lock);
                continue;
            }
            lock.unlock();
            for (size_t i = 0; i < tables_.size(); ++i) {
                /* Opened once; a table glass has not created yet (it makes one when it first writes to it) is
                 * looked for again on the next tick. */
                if (fds_[i] < 0) fds_[i] = ::open((dir_ + "/" + tables_[i]).c_str(), O_RDONLY | O_CLOEXEC);
                if (fds_[i] >= 0) (void)sync_file_range(fds_[i], 0, 0, SYNC_FILE_RANGE_WRITE);
            }
            lock.lock();
            wake_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_; });
        }
    }

    const std::string dir_;
    static constexpr std::array<const char *, 3> tables_{"postlist.glass", "termlist.glass", "docdata.glass"};
    std::array<int, 3> fds_{-1, -1, -1};   /* the pump thread's alone */
    std::mutex mutex_;
    std::condition_variable wake_;
    bool active_ = false, stop_ = false;
    std::thread thread_;   /* last: started once the members it reads are made */
};

struct hx_wdb {
    Xapian::WritableDatabase db;
    std::vector<Xapian::docid> written;
    std::unique_ptr<WritebackPump> pump;   /* from the first transaction on, until the database is released */
    std::string dir;
};

/* The documents the writer listed for the revisions after `from` up to `to`, sorted and unique;
 * false when a list is missing (the reader is too far behind, or the index predates the lists). */
static bool written_between(const Xapian::Database &db, Xapian::rev from, Xapian::rev to, std::vector<Xapian::docid> &docids) {
    for (Xapian::rev r = from + 1; r <= to; ++r) {
        std::string list = db.get_metadata(written_key_prefix + std::to_string(r));
        if (list.empty() || list[0] != 'w') return false;
        const char *p = list.c_str() + 1;
        while (*p) {
            char *end = nullptr;
            unsigned long d = std::strtoul(p, &end, 10);
            if (end == p) return false;
            docids.push_back(static_cast<Xapian::docid>(d));
            p = *end == ',' ? end + 1 : end;
        }
    }
    std::sort(docids.begin(), docids.end());
    docids.erase(std::unique(docids.begin(), docids.end()), docids.end());
    return true;
}

/* `each(docid, value)` for every document the writer listed after revision `from` up to `to`, in docid order,
 * with its value in `slot` now (nullptr when it has none, or no longer exists). False when a list is missing or
 * `each` returned false. */
template <typename F>
static bool each_written_value(const Xapian::Database &db, Xapian::valueno slot, Xapian::rev from, Xapian::rev to, F each) {
    std::vector<Xapian::docid> docids;
    if (!written_between(db, from, to, docids)) return false;
    Xapian::ValueIterator it = db.valuestream_begin(slot), end = db.valuestream_end(slot);
    std::string value;
    for (Xapian::docid d : docids) {
        if (it != end) it.skip_to(d);
        bool has = it != end && it.get_docid() == d;
        if (has) value = *it;
        if (!each(d, has ? &value : nullptr)) return false;
    }
    return true;
}

/* Brings a reader's column (its `slot`, `revision` and `loaded`, `load(db, rev)` and `update(db, rev)`) to
 * `db`'s revision: from the writer's lists when it is at most `written_revisions_kept` revisions behind, else
 * whole. Returns what the load or update returned (true when already current). Xapian errors (a revision
 * discarded under the reader) propagate and leave the column as it was. */
template <typename Column>
static bool bring_current(Column &column, const Xapian::Database &db, Xapian::valueno slot) {
    if (column.slot != slot) { column.slot = slot; column.loaded = false; }
    Xapian::rev rev = db.get_revision();
    if (column.loaded && rev == column.revision) return true;
    if (column.loaded && rev > column.revision && rev - column.revision <= written_revisions_kept && column.update(db, rev)) return true;
    return column.load(db, rev);
}

/* A reader's facet values of every document, as per-field codes indexed by docid, at one
 * revision. Counting facets with it costs an array read per match; reading each match's packed
 * facet value from Xapian's value stream had been most of a menu search. */
struct FacetColumn {
    static constexpr size_t stride = 5;   /* fields per document at most (the packed value's first five) */
    static constexpr size_t max_codes = 65535;
    typedef std::array<uint16_t, stride> Codes;

    /* Each field's values by code, and the codes of every whole packed value seen. */
    struct Dictionary {
        std::vector<std::vector<std::string>> names{stride};        /* names[field][code - 1] */
        std::vector<std::unordered_map<std::string, uint16_t>> ids{stride};
        std::unordered_map<std::string, Codes> packed;

        /* The codes of a packed value (fields separated by 0x1F); false when a field has too many values. */
        bool encode(const std::string &v, Codes &out) {
            auto hit = packed.find(v);
            if (hit != packed.end()) { out = hit->second; return true; }
            out.fill(0);
            bool fits = each_packed_field(v, stride, [&](size_t field, std::string name) {
                auto it = ids[field].find(name);
                if (it == ids[field].end()) {
                    if (names[field].size() >= max_codes) return false;
                    names[field].push_back(name);
                    it = ids[field].emplace(std::move(name), static_cast<uint16_t>(names[field].size())).first;
                }
                out[field] = it->second;
                return true;
            });
            if (fits) packed.emplace(v, out);
            return fits;
        }
    };

    Xapian::valueno slot = Xapian::BAD_VALUENO;
    Xapian::rev revision = 0;
    bool loaded = false, disabled = false;
    unsigned long full_loads = 0, updates = 0;
    std::vector<uint16_t> codes;   /* [docid * stride + field]; 0: none */
    Dictionary dictionary;         /* only grows between full loads, which start a new one */

    /* Brings the column to `db`'s revision; false when it cannot serve (then values are read). */
    bool current(const Xapian::Database &db, Xapian::valueno s) { return !disabled && bring_current(*this, db, s); }

    /* Reads every document's value into a new column and dictionary, then swaps them in. */
    bool load(const Xapian::Database &db, Xapian::rev rev) {
        std::vector<uint16_t> fresh((static_cast<size_t>(db.get_lastdocid()) + 1) * stride, 0);
        Dictionary words;
        Codes c;
        for (Xapian::ValueIterator it = db.valuestream_begin(slot); it != db.valuestream_end(slot); ++it) {
            Xapian::docid did = it.get_docid();
            if (static_cast<size_t>(did) * stride >= fresh.size()) continue;
            if (!words.encode(*it, c)) return disable();
            std::copy(c.begin(), c.end(), fresh.begin() + static_cast<size_t>(did) * stride);
        }
        codes.swap(fresh);
        std::swap(dictionary, words);
        revision = rev;
        loaded = true;
        ++full_loads;
        return true;
    }

    /* Re-reads the documents the writer listed for each revision after ours; false when a list is missing.
     * Codes are written only once every value has been read. */
    bool update(const Xapian::Database &db, Xapian::rev rev) {
        std::vector<std::pair<Xapian::docid, Codes>> changes;
        bool encoded = true;
        bool listed = each_written_value(db, slot, revision, rev, [&](Xapian::docid d, const std::string *value) {
            Codes c;
            c.fill(0);
            if (value && !dictionary.encode(*value, c)) return encoded = false;
            changes.emplace_back(d, c);
            return true;
        });
        if (!encoded) return disable();
        if (!listed) return false;
        size_t need = (static_cast<size_t>(db.get_lastdocid()) + 1) * stride;
        if (codes.size() < need) codes.resize(need, 0);
        for (const auto &change : changes) {
            if (static_cast<size_t>(change.first) * stride < codes.size())
                std::copy(change.second.begin(), change.second.end(), codes.begin() + static_cast<size_t>(change.first) * stride);
        }
        revision = rev;
        ++updates;
        return true;
    }

    /* A field with more values than codes: this reader reads values per match from now on. */
    bool disable() {
        disabled = true;
        loaded = false;
        std::vector<uint16_t>().swap(codes);
        dictionary = Dictionary();
        return false;
    }
};

/* A reader's number in one value slot (sortable-serialised) for every document, at one revision: what
 * range filters (an item's price, a restaurant's rating) test. A test is an array read, where Xapian's
 * value range decodes the slot's value stream chunk by chunk up to each candidate (a fifth of a
 * filtered menu search's time, and many of its block reads). Kept up to date like the facet column.
 * The numbers are shared with the queries built on them, and copied before an update while a query
 * still holds them. NaN: the document has no value there (or no longer exists). */
struct NumberColumn {
    Xapian::valueno slot = Xapian::BAD_VALUENO;
    Xapian::rev revision = 0;
    bool loaded = false;
    std::shared_ptr<std::vector<double>> numbers = std::make_shared<std::vector<double>>();

    static double number(const std::string &v) {
        if (v.empty()) return std::nan("");
        return Xapian::sortable_unserialise(v);
    }

    bool load(const Xapian::Database &db, Xapian::rev rev) {
        auto fresh = std::make_shared<std::vector<double>>(static_cast<size_t>(db.get_lastdocid()) + 1, std::nan(""));
        for (Xapian::ValueIterator it = db.valuestream_begin(slot); it != db.valuestream_end(slot); ++it) {
            Xapian::docid did = it.get_docid();
            if (did < fresh->size()) (*fresh)[did] = number(*it);
        }
        numbers = fresh;
        revision = rev;
        loaded = true;
        return true;
    }

    bool update(const Xapian::Database &db, Xapian::rev rev) {
        std::vector<std::pair<Xapian::docid, double>> changes;
        bool listed = each_written_value(db, slot, revision, rev, [&](Xapian::docid d, const std::string *value) {
            changes.emplace_back(d, value ? number(*value) : std::nan(""));
            return true;
        });
        if (!listed) return false;
        if (numbers.use_count() > 1) numbers = std::make_shared<std::vector<double>>(*numbers);
        numbers->resize(static_cast<size_t>(db.get_lastdocid()) + 1, std::nan(""));
        for (const auto &change : changes) {
            if (change.first < numbers->size()) (*numbers)[change.first] = change.second;
        }
        revision = rev;
        return true;
    }
};

/* A reader's coordinates in one value slot (Xapian's serialised `LatLongCoords`), sorted by document, at one
 * revision: what the radius filter and the distance sort read. Xapian decodes a document's coordinates from
 * the slot's value stream for each candidate, in the distance posting source and again in the distance key
 * maker: a third of a search for restaurants near a point by distance. Only documents with a location have
 * entries (a restaurant's 24 bytes; menu items have none), one per coordinate. Kept up to date like the other
 * columns, shared with the queries built on it and replaced, not changed, by an update. */
struct PointColumn {
    struct Point {
        Xapian::docid did;
        double lat, lng;
        bool operator<(Xapian::docid d) const { return did < d; }
        Xapian::LatLongCoord coord() const {
            Xapian::LatLongCoord c;   /* already valid: no range check */
            c.latitude = lat;
            c.longitude = lng;
            return c;
        }
    };
    typedef std::vector<Point> Points;

    Xapian::valueno slot = Xapian::BAD_VALUENO;
    Xapian::rev revision = 0;
    bool loaded = false;
    std::shared_ptr<const Points> points = std::make_shared<Points>();

    /* A document's coordinates; none for a value that is not a list of coordinates (as the key maker and the
     * distance source would have thrown on it, the document is then found by neither). */
    static void decode(Xapian::docid did, const std::string &value, Points &out) {
        Xapian::LatLongCoords coords;
        try { coords.unserialise(value); } catch (const Xapian::Error &) { return; }
        for (auto c = coords.begin(); c != coords.end(); ++c) out.push_back(Point{did, (*c).latitude, (*c).longitude});
    }

    bool load(const Xapian::Database &db, Xapian::rev rev) {
        auto fresh = std::make_shared<Points>();
        for (Xapian::ValueIterator it = db.valuestream_begin(slot); it != db.valuestream_end(slot); ++it) decode(it.get_docid(), *it, *fresh);
        points = fresh;
        revision = rev;
        loaded = true;
        return true;
    }

    /* Merges the documents the writer listed (their coordinates now, or none) into a new list. */
    bool update(const Xapian::Database &db, Xapian::rev rev) {
        std::vector<Xapian::docid> changed;
        Points now;
        bool listed = each_written_value(db, slot, revision, rev, [&](Xapian::docid d, const std::string *value) {
            changed.push_back(d);
            if (value) decode(d, *value, now);
            return true;
        });
        if (!listed) return false;
        /* The entries of documents not listed, then merged with what the listed ones hold now (both by document). */
        Points kept;
        kept.reserve(points->size());
        auto gone = changed.begin();
        for (const Point &p : *points) {
            while (gone != changed.end() && *gone < p.did) ++gone;
            if (gone == changed.end() || *gone != p.did) kept.push_back(p);
        }
        auto merged = std::make_shared<Points>();
        merged->reserve(kept.size() + now.size());
        std::merge(kept.begin(), kept.end(), now.begin(), now.end(), std::back_inserter(*merged),
                   [](const Point &a, const Point &b) { return a.did < b.did; });
        points = merged;
        revision = rev;
        return true;
    }

    /* The entries of document `did` start at the result (which holds a later document, or is the end, when it has none). */
    static Points::const_iterator find(const Points &p, Points::const_iterator from, Xapian::docid did) {
        return std::lower_bound(from, p.end(), did);
    }
};

/* A reader's flags of every document (a byte each, indexed by document id): which of up to eight boolean terms
 * it holds (bit i for `terms[i]`), such as its kind and whether it is hidden. Filtering by them had been Xapian
 * skipping through those terms' posting lists for every candidate (excluding restaurants, suggestions, hidden and
 * unavailable items was a seventh of a menu search); a flag test is one array read. Kept up to date like the
 * other columns: a document the writer listed is looked up in its own term list. */
struct FlagColumn {
    Xapian::valueno slot = Xapian::BAD_VALUENO;   /* unused: the terms name the column */
    Xapian::rev revision = 0;
    bool loaded = false;
    std::vector<std::string> terms;               /* sorted */
    std::shared_ptr<const std::vector<uint8_t>> flags = std::make_shared<std::vector<uint8_t>>();

    bool load(const Xapian::Database &db, Xapian::rev rev) {
        auto fresh = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(db.get_lastdocid()) + 1, 0);
        for (size_t bit = 0; bit < terms.size(); ++bit) {
            for (Xapian::PostingIterator p = db.postlist_begin(terms[bit]); p != db.postlist_end(terms[bit]); ++p) {
                if (*p < fresh->size()) (*fresh)[*p] |= static_cast<uint8_t>(1u << bit);
            }
        }
        flags = fresh;
        revision = rev;
        loaded = true;
        return true;
    }

    /* A document's flags now, from its term list (none when it no longer exists). */
    uint8_t of(const Xapian::Database &db, Xapian::docid did) const {
        uint8_t f = 0;
        try {
            Xapian::TermIterator t = db.termlist_begin(did), end = db.termlist_end(did);
            for (size_t bit = 0; bit < terms.size() && t != end; ++bit) {
                t.skip_to(terms[bit]);
                if (t != end && *t == terms[bit]) f |= static_cast<uint8_t>(1u << bit);
            }
        } catch (const Xapian::DocNotFoundError &) {
            return 0;
        }
        return f;
    }

    /* Brings the column to `db`'s revision for these sorted terms (a set other than the one held is read whole). */
    void current(const Xapian::Database &db, const char *const *wanted, size_t count) {
        bool same = terms.size() == count;
        for (size_t i = 0; same && i < count; ++i) same = terms[i] == wanted[i];
        if (!same) {
            terms.assign(wanted, wanted + count);
            loaded = false;
        }
        bring_current(*this, db, 0);
    }

    bool update(const Xapian::Database &db, Xapian::rev rev) {
        std::vector<Xapian::docid> docids;
        if (!written_between(db, revision, rev, docids)) return false;
        auto fresh = std::make_shared<std::vector<uint8_t>>(*flags);
        fresh->resize(static_cast<size_t>(db.get_lastdocid()) + 1, 0);
        for (Xapian::docid d : docids) {
            if (d < fresh->size()) (*fresh)[d] = of(db, d);
        }
        flags = fresh;
        revision = rev;
        return true;
    }
};

struct hx_rdb {
    Xapian::Database db;
    FacetColumn facets;
    std::map<Xapian::valueno, NumberColumn> numbers;
    std::map<Xapian::valueno, PointColumn> points;
    FlagColumn flags;
};
struct hx_doc { Xapian::Document doc; Xapian::TermGenerator gen; };
struct hx_query { Xapian::Query q; };

static char *dup_string(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) { std::memcpy(p, s.data(), s.size()); p[s.size()] = '\0'; }
    return p;
}

/* A document's data lives in a value slot rather than Xapian's document data: glass compresses
 * every document-data entry with zlib (a 128 KiB hash table cleared and a deflate per document;
 * moving the data here cut indexing time by a third), while value streams are stored as they
 * are. Indexes written before keep their data where it was, so reads fall back to it.
 *
 * Suggestions are the exception (`data_first`): their data is their counts, rewritten in nearly every
 * batch, and rewriting a value first reads which slots the document uses from the term list table
 * (a block read each, the suggestions lying scattered among a million items), where rewriting the
 * document data replaces one entry of the otherwise empty docdata table. (Deflate no longer costs what
 * it did: `deflate_tuning.cpp` leaves entries stored.) Suggestions written before are in the slot, so
 * those reads fall back the other way; `in_slot` (when not null) tells which held the data. */
static std::string doc_data(const Xapian::Document &doc, bool data_first = false, bool *in_slot = nullptr) {
    if (data_first) {
        std::string d = doc.get_data();
        if (!d.empty()) {
            if (in_slot) *in_slot = false;
            return d;
        }
    }
    std::string v = doc.get_value(HX_DATA_SLOT);
    if (in_slot) *in_slot = !v.empty();
    if (!v.empty() || data_first) return v;
    return doc.get_data();
}

/* `each` for every document holding `term`, with its data; the ids are read first, then the documents.
 * (Here and below, a docid just read from a posting list names a document that exists, so get_document
 * is told not to check: DOC_ASSUME_VALID saves a look-up of the document's length.) */
static void each_posting(const Xapian::Database &db, const char *term, bool data_first,
                         void (*each)(void *, unsigned, const char *, size_t), void *ctx) {
    std::vector<Xapian::docid> ids;
    for (Xapian::PostingIterator it = db.postlist_begin(term); it != db.postlist_end(term); ++it) ids.push_back(*it);
    for (Xapian::docid id : ids) {
        std::string data = doc_data(db.get_document(id, Xapian::DOC_ASSUME_VALID), data_first);
        each(ctx, id, data.data(), data.size());
    }
}

static void set_error(char **err, const std::string &msg) {
    if (err) *err = dup_string(msg);
}

/* Runs `body`, turning any exception into an error string. */
template <typename F>
static int guarded(char **err, F body) {
    try { body(); return 0; }
    catch (const Xapian::Error &e) { set_error(err, e.get_type() + std::string(": ") + e.get_msg()); }
    catch (const std::exception &e) { set_error(err, e.what()); }
    catch (...) { set_error(err, "unknown Xapian error"); }
    return -1;
}

/* Whether document `did` holds exactly `doc`'s terms, each with the same wdf (and `doc` no positions). */
static bool same_terms(const Xapian::Database &db, Xapian::docid did, const Xapian::Document &doc) {
    Xapian::TermIterator a = db.termlist_begin(did), a_end = db.termlist_end(did);
    Xapian::TermIterator b = doc.termlist_begin(), b_end = doc.termlist_end();
    for (; a != a_end && b != b_end; ++a, ++b) {
        if (*a != *b || a.get_wdf() != b.get_wdf() || b.positionlist_count() != 0) return false;
    }
    return a == a_end && b == b_end;
}

/* Writes `doc` as document `id`, which exists. When the new document's terms are the old one's (a price or rating
 * changed, say), only its values and data are rewritten: Xapian then leaves its term list and postings as they are,
 * where a whole replacement compares every term again and queues a position-list removal for each (an index
 * without positions has none to remove). */
static void replace_at(Xapian::WritableDatabase &db, Xapian::docid id, const Xapian::Document &doc) {
    if (same_terms(db, id, doc)) {
        Xapian::Document current = db.get_document(id, Xapian::DOC_ASSUME_VALID);
        current.clear_values();
        for (Xapian::ValueIterator v = doc.values_begin(); v != doc.values_end(); ++v) current.add_value(v.get_valueno(), *v);
        current.set_data(doc.get_data());
        db.replace_document(id, current);
    } else {
        db.replace_document(id, doc);
    }
}

extern "C" {

void hx_free(void *p) { std::free(p); }

hx_wdb *hx_wdb_open(const char *path, char **err) {
    hx_wdb *out = nullptr;
    guarded(err, [&] { out = new hx_wdb{Xapian::WritableDatabase(path, Xapian::DB_CREATE_OR_OPEN), {}, nullptr, path}; });
    return out;
}

int hx_wdb_release(hx_wdb *db, char **err) {
    db->pump.reset();
    return guarded(err, [&] { db->db.close(); });
}

void hx_wdb_close(hx_wdb *db) {
    if (!db) return;
    db->pump.reset();
    try { db->db.close(); } catch (...) {}
    delete db;
}

/* Replaces the document holding `idterm` (adds one when none does), as `replace_at` does. */
int hx_wdb_replace(hx_wdb *db, const char *idterm, hx_doc *doc, unsigned *docid, char **err) {
    return guarded(err, [&] {
        doc->doc.add_boolean_term(idterm);
        Xapian::PostingIterator p = db->db.postlist_begin(idterm), end = db->db.postlist_end(idterm);
        Xapian::docid id = p == end ? 0 : *p;
        bool one = id != 0 && ++p == end;
        if (id == 0) {
            id = db->db.add_document(doc->doc);
        } else if (!one) {
            id = db->db.replace_document(idterm, doc->doc);   /* several hold the term: Xapian keeps the first */
        } else {
            replace_at(db->db, id, doc->doc);   /* by the docid already looked up, not the term again */
        }
        db->written.push_back(id);
        if (docid) *docid = id;
    });
}

int hx_wdb_replace_docid(hx_wdb *db, unsigned docid, hx_doc *doc, char **err) {
    return guarded(err, [&] {
        replace_at(db->db, docid, doc->doc);
        db->written.push_back(docid);
    });
}

int hx_wdb_add(hx_wdb *db, hx_doc *doc, unsigned *docid, char **err) {
    return guarded(err, [&] {
        Xapian::docid id = db->db.add_document(doc->doc);
        db->written.push_back(id);
        if (docid) *docid = id;
    });
}

int hx_wdb_delete_docid(hx_wdb *db, unsigned docid, char **err) {
    return guarded(err, [&] {
        db->db.delete_document(docid);
        db->written.push_back(docid);
    });
}

int hx_wdb_delete(hx_wdb *db, const char *idterm, char **err) {
    return guarded(err, [&] {
        /* By docid, each listed too, so that readers' columns forget what the document held (deleting by the
         * term would look its posting list up a second time). */
        std::vector<Xapian::docid> ids;
        for (Xapian::PostingIterator it = db->db.postlist_begin(idterm); it != db->db.postlist_end(idterm); ++it) ids.push_back(*it);
        for (Xapian::docid id : ids) db->db.delete_document(id);
        db->written.insert(db->written.end(), ids.begin(), ids.end());
    });
}

int hx_wdb_set_metadata(hx_wdb *db, const char *key, const char *value, char **err) {
    return guarded(err, [&] { db->db.set_metadata(key, value); });
}

char *hx_wdb_get_metadata(hx_wdb *db, const char *key, char **err) {
    char *out = nullptr;
    guarded(err, [&] { out = dup_string(db->db.get_metadata(key)); });
    return out;
}

char *hx_wdb_get_value(hx_wdb *db, const char *idterm, unsigned slot, char **err) {
    char *out = nullptr;
    guarded(err, [&] {
        Xapian::PostingIterator it = db->db.postlist_begin(idterm);
        if (it != db->db.postlist_end(idterm)) {
            out = dup_string(db->db.get_document(*it, Xapian::DOC_ASSUME_VALID).get_value(slot));
        }
    });
    return out;
}

/* Lists the documents written since the last commit under the revision the next commit makes,
 * and drops the list that falls out of the kept window. */
static void note_written(hx_wdb *db) {
    Xapian::rev next = db->db.get_revision() + 1;
    std::string list = "w";
    for (size_t i = 0; i < db->written.size(); ++i) {
        if (i > 0) list += ',';
        list += std::to_string(db->written[i]);
    }
    db->db.set_metadata(written_key_prefix + std::to_string(next), list);
    if (next > written_revisions_kept) db->db.set_metadata(written_key_prefix + std::to_string(next - written_revisions_kept), "");
    db->written.clear();
}

int hx_wdb_commit(hx_wdb *db, char **err) {
    return guarded(err, [&] { note_written(db); db->db.commit(); });
}

int hx_wdb_begin(hx_wdb *db, char **err) {
    return guarded(err, [&] {
        db->written.clear();
        db->db.begin_transaction(true);
        if (!db->pump) db->pump = std::make_unique<WritebackPump>(db->dir);
        db->pump->set_active(true);
    });
}

int hx_wdb_commit_transaction(hx_wdb *db, char **err) {
    int status = guarded(err, [&] { note_written(db); db->db.commit_transaction(); });
    if (db->pump) db->pump->set_active(false);
    return status;
}

int hx_wdb_cancel(hx_wdb *db, char **err) {
    if (db->pump) db->pump->set_active(false);
    return guarded(err, [&] { db->written.clear(); db->db.cancel_transaction(); });
}

long hx_wdb_doccount(hx_wdb *db, char **err) {
    long n = -1;
    guarded(err, [&] { n = static_cast<long>(db->db.get_doccount()); });
    return n;
}

long hx_wdb_termfreq(hx_wdb *db, const char *term, char **err) {
    long n = -1;
    guarded(err, [&] { n = static_cast<long>(db->db.get_termfreq(term)); });
    return n;
}

hx_doc *hx_doc_new(void) {
    try {
        hx_doc *d = new hx_doc();
        d->gen.set_stemmer(Xapian::Stem("english"));
        d->gen.set_document(d->doc);
        return d;
    } catch (...) { return nullptr; }
}

void hx_doc_free(hx_doc *doc) { delete doc; }

int hx_doc_set_data(hx_doc *doc, const char *data, size_t len, char **err) {
    return guarded(err, [&] { doc->doc.add_value(HX_DATA_SLOT, std::string(data, len)); });
}

int hx_doc_set_document_data(hx_doc *doc, const char *data, size_t len, char **err) {
    return guarded(err, [&] { doc->doc.set_data(std::string(data, len)); });
}

int hx_doc_add_boolean_term(hx_doc *doc, const char *term, char **err) {
    return guarded(err, [&] { doc->doc.add_boolean_term(term); });
}

int hx_doc_index_text(hx_doc *doc, const char *text, unsigned weight, const char *prefix, char **err) {
    return guarded(err, [&] {
        // No positions: queries never ask for phrases, and positions were the largest table to write.
        doc->gen.index_text_without_positions(text, weight, prefix ? prefix : "");
        doc->gen.increase_termpos();
    });
}

int hx_doc_add_value(hx_doc *doc, unsigned slot, const char *value, size_t len, char **err) {
    return guarded(err, [&] { doc->doc.add_value(slot, std::string(value, len)); });
}

hx_rdb *hx_rdb_open(const char *path, char **err) {
    hx_rdb *out = nullptr;
    guarded(err, [&] { out = new hx_rdb{Xapian::Database(path), {}}; });
    return out;
}

void hx_rdb_close(hx_rdb *db) {
    if (!db) return;
    try { db->db.close(); } catch (...) {}
    delete db;
}

void hx_rdb_facet_column_stats(hx_rdb *db, unsigned long *full_loads, unsigned long *updates) {
    *full_loads = db->facets.full_loads;
    *updates = db->facets.updates;
}

int hx_rdb_load_columns(hx_rdb *db, int facet_slot, const unsigned *number_slots, size_t numbers, const unsigned *point_slots,
                        size_t points, const char *const *flag_terms, size_t flags, char **err) {
    return guarded(err, [&] {
        if (flags > 0) db->flags.current(db->db, flag_terms, flags);
        if (facet_slot >= 0) db->facets.current(db->db, static_cast<Xapian::valueno>(facet_slot));
        for (size_t i = 0; i < numbers; ++i) bring_current(db->numbers[number_slots[i]], db->db, number_slots[i]);
        for (size_t i = 0; i < points; ++i) bring_current(db->points[point_slots[i]], db->db, point_slots[i]);
    });
}

int hx_rdb_reopen(hx_rdb *db, char **err) {
    bool moved = false;
    if (guarded(err, [&] { moved = db->db.reopen(); }) != 0) return -1;
    return moved ? 1 : 0;
}

int hx_rdb_postings(hx_rdb *db, const char *term, int data_first, void (*each)(void *, unsigned, const char *, size_t), void *ctx,
                    char **err) {
    return guarded(err, [&] { each_posting(db->db, term, data_first != 0, each, ctx); });
}

long hx_rdb_doccount(hx_rdb *db, char **err) {
    long n = -1;
    guarded(err, [&] { n = static_cast<long>(db->db.get_doccount()); });
    return n;
}

long long hx_rdb_revision(hx_rdb *db, char **err) {
    long long r = -1;
    guarded(err, [&] { r = static_cast<long long>(db->db.get_revision()); });
    return r;
}

char *hx_rdb_get_metadata(hx_rdb *db, const char *key, char **err) {
    char *out = nullptr;
    guarded(err, [&] { out = dup_string(db->db.get_metadata(key)); });
    return out;
}


char *hx_wdb_get_data(hx_wdb *db, const char *idterm, size_t *len, unsigned *docid, char **err) {
    char *out = nullptr;
    guarded(err, [&] {
        Xapian::PostingIterator it = db->db.postlist_begin(idterm);
        if (it != db->db.postlist_end(idterm)) {
            if (docid) *docid = *it;
            std::string data = doc_data(db->db.get_document(*it, Xapian::DOC_ASSUME_VALID));
            out = dup_string(data);
            if (len) *len = data.size();
        }
    });
    return out;
}

char *hx_wdb_get_data_docid(hx_wdb *db, unsigned docid, size_t *len, char **err) {
    char *out = nullptr;
    guarded(err, [&] {
        Xapian::Document doc;
        try {
            doc = db->db.get_document(docid);
        } catch (const Xapian::DocNotFoundError &) {
            return;
        }
        std::string data = doc_data(doc);
        out = dup_string(data);
        if (len) *len = data.size();
    });
    return out;
}

int hx_wdb_postings(hx_wdb *db, const char *term,
                    void (*each)(void *, unsigned, const char *, size_t), void *ctx, char **err) {
    return guarded(err, [&] { each_posting(db->db, term, false, each, ctx); });
}

int hx_wdb_terms(hx_wdb *db, const char *prefix,
                 void (*each)(void *, const char *, size_t, unsigned, const char *, size_t, int), void *ctx, char **err) {
    return guarded(err, [&] {
        std::vector<std::pair<std::string, Xapian::docid>> found;
        for (Xapian::TermIterator t = db->db.allterms_begin(prefix); t != db->db.allterms_end(prefix); ++t) {
            Xapian::PostingIterator p = db->db.postlist_begin(*t);
            if (p != db->db.postlist_end(*t)) found.emplace_back(*t, *p);
        }
        for (const auto &f : found) {
            bool in_slot = false;
            std::string data = doc_data(db->db.get_document(f.second, Xapian::DOC_ASSUME_VALID), true, &in_slot);
            each(ctx, f.first.data(), f.first.size(), f.second, data.data(), data.size(), in_slot ? 1 : 0);
        }
    });
}

long hx_wdb_docid(hx_wdb *db, const char *term, char **err) {
    long out = -1;
    guarded(err, [&] {
        Xapian::PostingIterator it = db->db.postlist_begin(term);
        out = it == db->db.postlist_end(term) ? 0 : long(*it);
    });
    return out;
}

int hx_wdb_values(hx_wdb *db, unsigned slot, void (*each)(void *, unsigned, const char *, size_t), void *ctx, char **err) {
    return guarded(err, [&] {
        for (Xapian::ValueIterator it = db->db.valuestream_begin(slot); it != db->db.valuestream_end(slot); ++it) {
            std::string v = *it;
            each(ctx, it.get_docid(), v.data(), v.size());
        }
    });
}

int hx_wdb_set_values(hx_wdb *db, unsigned docid, const unsigned *slots, const char *const *values, const size_t *lens,
                      size_t count, int replace_all, char **err) {
    return guarded(err, [&] {
        // A document read from this database and changed only in its values is rewritten
        // without touching its terms (Xapian tracks what was modified).
        // The caller names a document it knows (from a posting list, a value stream or the sink's copy
        // of the suggestions), so Xapian need not look its length up to check that it exists.
        Xapian::Document doc = db->db.get_document(docid, Xapian::DOC_ASSUME_VALID);
        // Adding a value to a document read from the database first reads all of its values, one value
        // stream look-up each; when the caller gives them all, they are not read.
        if (replace_all) doc.clear_values();
        for (size_t i = 0; i < count; ++i) {
            if (lens[i] > 0) doc.add_value(slots[i], std::string(values[i], lens[i]));
            else if (!doc.get_value(slots[i]).empty()) doc.remove_value(slots[i]);  /* removing an absent value throws */
        }
        db->db.replace_document(docid, doc);
    });
}

int hx_wdb_set_document_data(hx_wdb *db, unsigned docid, const char *data, size_t len, int clear_values, char **err) {
    return guarded(err, [&] {
        // As in hx_wdb_set_values: a document read from this database and changed only in its data is
        // rewritten as one docdata entry (its terms and values are neither read nor written).
        Xapian::Document doc = db->db.get_document(docid, Xapian::DOC_ASSUME_VALID);
        if (clear_values) doc.clear_values();
        doc.set_data(std::string(data, len));
        db->db.replace_document(docid, doc);
    });
}

char *hx_stem(const char *word, char **err) {
    char *out = nullptr;
    guarded(err, [&] {
        static thread_local Xapian::Stem stemmer("english");
        out = dup_string(stemmer(word));
    });
    return out;
}

static hx_query *wrap(char **err, const std::function<Xapian::Query()> &make) {
    hx_query *out = nullptr;
    guarded(err, [&] { out = new hx_query{make()}; });
    return out;
}

hx_query *hx_query_term(const char *term, char **err) {
    return wrap(err, [&] { return Xapian::Query(term); });
}

hx_query *hx_query_match_all(char **err) {
    return wrap(err, [&] { return Xapian::Query::MatchAll; });
}

hx_query *hx_query_combine(int op, hx_query *const *subs, size_t n, char **err) {
    return wrap(err, [&] {
        Xapian::Query::op xop;
        switch (op) {
            case HX_OP_AND: xop = Xapian::Query::OP_AND; break;
            case HX_OP_OR: xop = Xapian::Query::OP_OR; break;
            case HX_OP_AND_NOT: xop = Xapian::Query::OP_AND_NOT; break;
            case HX_OP_FILTER: xop = Xapian::Query::OP_FILTER; break;
            case HX_OP_AND_MAYBE: xop = Xapian::Query::OP_AND_MAYBE; break;
            case HX_OP_SYNONYM: xop = Xapian::Query::OP_SYNONYM; break;
            default: throw std::invalid_argument("unknown query operator");
        }
        std::vector<Xapian::Query> parts;
        for (size_t i = 0; i < n; ++i) parts.push_back(subs[i]->q);
        return Xapian::Query(xop, parts.begin(), parts.end());
    });
}

hx_query *hx_query_scale(const hx_query *q, double factor, char **err) {
    return wrap(err, [&] { return Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT, q->q, factor); });
}

hx_query *hx_query_value_weight(unsigned slot, double scale, char **err) {
    return wrap(err, [&] {
        Xapian::PostingSource *source = new Xapian::ValueWeightPostingSource(slot);
        return Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT, Xapian::Query(source->release()), scale);
    });
}

void hx_query_free(hx_query *q) { delete q; }

size_t hx_sortable(double value, char *out, size_t cap) {
    std::string s = Xapian::sortable_serialise(value);
    if (s.size() <= cap) std::memcpy(out, s.data(), s.size());
    return s.size();
}

double hx_unsortable(const char *value, size_t len) {
    try { return Xapian::sortable_unserialise(std::string(value, len)); } catch (...) { return 0; }
}

size_t hx_latlong(double lat, double lng, char *out, size_t cap) {
    try {
        std::string s = Xapian::LatLongCoords(Xapian::LatLongCoord(lat, lng)).serialise();
        if (s.size() <= cap) std::memcpy(out, s.data(), s.size());
        return s.size();
    } catch (...) { return 0; }
}

/* Great-circle distance in metres from `centre` to the nearest of a document's coordinates, which start at `p`
 * (`end` or a later document's entry ends them); -1 when it has none. Coordinates outside [lat_low, lat_high]
 * are passed by without trigonometry (`HUGE_VAL` bounds take every one). */
static double nearest_distance(const Xapian::GreatCircleMetric &metric, const Xapian::LatLongCoord &centre,
                               PointColumn::Points::const_iterator p, PointColumn::Points::const_iterator end,
                               double lat_low = -HUGE_VAL, double lat_high = HUGE_VAL) {
    double best = -1;
    for (Xapian::docid did = p == end ? 0 : p->did; p != end && p->did == did; ++p) {
        if (p->lat < lat_low || p->lat > lat_high) continue;
        double d = metric.pointwise_distance(centre, p->coord());
        if (best < 0 || d < best) best = d;
    }
    return best;
}

/* How many degrees of latitude a point within `radius_m` metres of a centre can be from it, at most: radius / R
 * radians, with R below the great-circle metric's Earth radius (6,372.8 km). */
static double band_degrees(double radius_m) { return radius_m / 6300000.0 * (180.0 / M_PI) + 1e-6; }

/* The documents within `radius` metres (great-circle) of a centre, weighed k1 (distance + k1)^-k2: what
 * Xapian's LatLongDistancePostingSource matches and weighs. That one decodes each candidate's coordinates from
 * the value stream into a new list and computes a distance for every document with a location; this one reads
 * the reader's `PointColumn` and first rejects a coordinate outside the latitude band the radius allows, so
 * most restaurants of other cities cost no trigonometry. */
class NearSource : public Xapian::PostingSource {
    std::shared_ptr<const PointColumn::Points> points;
    Xapian::LatLongCoord centre;
    double radius, k1, k2;
    double lat_low, lat_high;
    Xapian::GreatCircleMetric metric;
    Xapian::doccount estimate;
    PointColumn::Points::const_iterator at;   /* the current document's first entry */
    Xapian::docid pos = 0;
    double dist = 0;

    /* Moves to the first document from `from` on that lies within the radius (its distance noted for the weight). */
    void settle(PointColumn::Points::const_iterator from) {
        const auto end = points->end();
        while (from != end) {
            double d = nearest_distance(metric, centre, from, end, lat_low, lat_high);
            if (d >= 0 && d <= radius) { at = from; pos = from->did; dist = d; return; }
            Xapian::docid did = from->did;
            while (from != end && from->did == did) ++from;
        }
        at = end;
    }

public:
    NearSource(std::shared_ptr<const PointColumn::Points> p, const Xapian::LatLongCoord &c, double radius_m, double k1_, double k2_,
               Xapian::doccount est)
        : points(std::move(p)), centre(c), radius(radius_m), k1(k1_), k2(k2_), estimate(est) {
        double degrees = band_degrees(radius_m);
        lat_low = c.latitude - degrees;
        lat_high = c.latitude + degrees;
        at = points->begin();
    }
    void init(const Xapian::Database &) override {
        at = points->begin();
        pos = 0;
        set_maxweight(k1 * std::pow(k1, -k2));
        termfreq_max = static_cast<Xapian::doccount>(points->size());
        termfreq_est = std::min(estimate, termfreq_max);
    }
    Xapian::doccount get_termfreq_min() const override { return 0; }   /* possibly none within the radius */
    Xapian::doccount get_termfreq_est() const override { return termfreq_est; }
    Xapian::doccount get_termfreq_max() const override { return termfreq_max; }
    void next(double) override {
        auto from = at;
        while (from != points->end() && from->did <= pos) ++from;
        settle(from);
    }
    void skip_to(Xapian::docid did, double) override {
        if (did <= pos) return;
        settle(PointColumn::find(*points, at, did));
    }
    bool check(Xapian::docid did, double) override {
        auto from = did > pos ? PointColumn::find(*points, at, did) : PointColumn::find(*points, points->begin(), did);
        double d = from != points->end() && from->did == did ? nearest_distance(metric, centre, from, points->end(), lat_low, lat_high) : -1;
        at = from;
        pos = did;
        if (d < 0 || d > radius) return false;   /* no match here, and next() moves past `did` */
        dist = d;
        return true;
    }
    bool at_end() const override { return at == points->end(); }
    Xapian::docid get_docid() const override { return pos; }
    double get_weight() const override { return k1 * std::pow(dist + k1, -k2); }
    NearSource *clone() const override { return new NearSource(points, centre, radius, k1, k2, estimate); }
    std::string name() const override { return std::string(); }

private:
    Xapian::doccount termfreq_est = 0, termfreq_max = 0;
};

hx_query *hx_rdb_near(hx_rdb *db, unsigned slot, double lat, double lng, double radius_m, double k1, double k2, char **err) {
    return wrap(err, [&] {
        if (k1 <= 0 || k2 <= 0) throw std::invalid_argument("near: k1 and k2 must be positive");
        PointColumn &column = db->points[slot];
        bring_current(column, db->db, slot);
        std::shared_ptr<const PointColumn::Points> points = column.points;
        Xapian::LatLongCoord centre(lat, lng);
        /* How many documents lie within the radius, from every step-th entry (the matcher orders an AND by it). */
        Xapian::GreatCircleMetric metric;
        double band = band_degrees(radius_m);
        size_t size = points->size(), step = std::max<size_t>(1, size / 1024), sampled = 0, passed = 0;
        for (size_t i = 0; i < size; i += step, ++sampled) {
            const auto &p = (*points)[i];
            if (std::fabs(p.lat - lat) <= band && metric.pointwise_distance(centre, p.coord()) <= radius_m) ++passed;
        }
        auto est = static_cast<Xapian::doccount>(sampled == 0 ? 0 : static_cast<double>(size) * passed / sampled);
        Xapian::PostingSource *source = new NearSource(points, centre, radius_m, k1, k2, est);
        return Xapian::Query(source->release());
    });
}

/* Sort keys by distance from a centre to a document's nearest coordinate in the reader's `PointColumn`: the keys
 * of Xapian's LatLongDistanceKeyMaker (the same metric; nine 0xFF bytes, after every distance, for a document
 * without a location), without reading and decoding the document's value. */
class NearestKeyMaker : public Xapian::KeyMaker {
    std::shared_ptr<const PointColumn::Points> points;
    Xapian::LatLongCoord centre;
    Xapian::GreatCircleMetric metric;
public:
    NearestKeyMaker(std::shared_ptr<const PointColumn::Points> p, const Xapian::LatLongCoord &c) : points(std::move(p)), centre(c) {}
    std::string operator()(const Xapian::Document &doc) const override {
        Xapian::docid did = doc.get_docid();
        auto from = PointColumn::find(*points, points->begin(), did);
        double d = from != points->end() && from->did == did ? nearest_distance(metric, centre, from, points->end()) : -1;
        return d < 0 ? std::string(9, '\xff') : Xapian::sortable_serialise(d);
    }
};

}   /* extern "C": templates need C++ linkage */

/* The documents whose entry in a reader's column (`values`, indexed by document id) passes `Test`: each candidate
 * tested by an array read. Behind a term it is only asked whether a candidate passes; alone it walks the column.
 * Every entry that passes must be of a document that exists (an entry of none must fail). */
template <typename Value, typename Test>
class ColumnSource : public Xapian::PostingSource {
    std::shared_ptr<const std::vector<Value>> values;
    Test test;
    Xapian::doccount estimate;
    Xapian::docid pos = 0;
    Xapian::doccount termfreq_min = 0, termfreq_est = 0, termfreq_max = 0;

public:
    ColumnSource(std::shared_ptr<const std::vector<Value>> v, Test t, Xapian::doccount est)
        : values(std::move(v)), test(t), estimate(est) {}
    void init(const Xapian::Database &db) override {
        pos = 0;
        set_maxweight(0);
        termfreq_min = 0;
        termfreq_max = db.get_doccount();
        termfreq_est = std::min(estimate, termfreq_max);
    }
    Xapian::doccount get_termfreq_min() const override { return termfreq_min; }
    Xapian::doccount get_termfreq_est() const override { return termfreq_est; }
    Xapian::doccount get_termfreq_max() const override { return termfreq_max; }
    void next(double) override {
        const size_t size = values->size();
        do { ++pos; } while (pos < size && !test((*values)[pos]));
    }
    void skip_to(Xapian::docid did, double min_wt) override {
        if (did <= pos) return;
        pos = did - 1;
        next(min_wt);
    }
    bool check(Xapian::docid did, double) override {
        pos = did;
        if (did >= values->size()) return false;
        return test((*values)[did]);   /* false: no match here, and next() moves past `did` */
    }
    bool at_end() const override { return pos >= values->size(); }
    Xapian::docid get_docid() const override { return pos; }
    double get_weight() const override { return 0; }
    ColumnSource *clone() const override { return new ColumnSource(values, test, estimate); }
    std::string name() const override { return std::string(); }

    /* A query on `values` matching what passes `t`, its frequency estimated from every step-th entry (the
     * matcher orders an AND by it). */
    static Xapian::Query query(const Xapian::Database &db, std::shared_ptr<const std::vector<Value>> values, Test t) {
        size_t size = values->size(), step = std::max<size_t>(1, size / 1024), sampled = 0, passed = 0;
        for (size_t d = 1; d < size; d += step, ++sampled) {
            if (t((*values)[d])) ++passed;
        }
        auto est = static_cast<Xapian::doccount>(sampled == 0 ? 0 : static_cast<double>(db.get_doccount()) * passed / sampled);
        return Xapian::Query((new ColumnSource(std::move(values), t, est))->release());
    }
};

extern "C" {

/* A number within [lower, upper] (false for NaN: no value). The sortable serialisation keeps the order of
 * numbers, so these are the matches of Xapian's value range on the slot. */
struct WithinRange {
    double lower, upper;
    bool operator()(double v) const { return v >= lower && v <= upper; }
};

hx_query *hx_rdb_range(hx_rdb *db, unsigned slot, int has_lower, double lower, int has_upper, double upper, char **err) {
    return wrap(err, [&] {
        NumberColumn &column = db->numbers[slot];
        bring_current(column, db->db, slot);
        WithinRange test{has_lower ? lower : -HUGE_VAL, has_upper ? upper : HUGE_VAL};
        return ColumnSource<double, WithinRange>::query(db->db, column.numbers, test);
    });
}

/* Flags holding all of `required` (never none: a document that does not exist has no flags) and none of `forbidden`. */
struct WithFlags {
    uint8_t required, forbidden;
    bool operator()(uint8_t f) const { return (f & required) == required && (f & forbidden) == 0; }
};

hx_query *hx_rdb_flags(hx_rdb *db, const char *const *terms, size_t count, unsigned required, unsigned forbidden, char **err) {
    return wrap(err, [&] {
        if (count == 0 || count > 8) throw std::invalid_argument("flags: 1 to 8 flag terms");
        if (required == 0 || required >= (1u << count) || forbidden >= (1u << count)) throw std::invalid_argument("flags: bad masks");
        for (size_t i = 1; i < count; ++i) {
            if (std::strcmp(terms[i - 1], terms[i]) >= 0) throw std::invalid_argument("flags: terms must be sorted");
        }
        db->flags.current(db->db, terms, count);
        WithFlags test{static_cast<uint8_t>(required), static_cast<uint8_t>(forbidden)};
        return ColumnSource<uint8_t, WithFlags>::query(db->db, db->flags.flags, test);
    });
}

/* Passes documents open at the given minute of the week in their own zone. */
class OpenNowDecider : public Xapian::MatchDecider {
    Xapian::valueno hours_slot, zone_slot;
    std::map<std::string, int> minute_by_zone;
public:
    OpenNowDecider(const hx_search_options *o) : hours_slot(o->open_hours_slot), zone_slot(o->open_zone_slot) {
        for (size_t i = 0; i < o->open_zone_count; ++i) minute_by_zone[o->open_zones[i]] = o->open_minutes[i];
    }
    bool operator()(const Xapian::Document &doc) const override {
        auto it = minute_by_zone.find(doc.get_value(zone_slot));
        if (it == minute_by_zone.end()) return false;
        int minute = it->second;
        std::string hours = doc.get_value(hours_slot);
        for (size_t i = 0; i + 3 < hours.size(); i += 4) {
            const unsigned char *p = reinterpret_cast<const unsigned char *>(hours.data() + i);
            int start = p[0] | (p[1] << 8), end = p[2] | (p[3] << 8);
            if (minute >= start && minute < end) return true;
        }
        return false;
    }
};

/* A match spy that counts facet values and reports each counted value of each field. */
struct FacetSpy : public Xapian::MatchSpy {
    virtual void report(void (*facet)(void *, unsigned, const char *, size_t, unsigned), void *ctx) const = 0;
};

/* Counts facet values by the reader's facet column over `matched` (document ids) and reports each counted value
 * of each field. A match's codes are a cache miss of their own (matches lie far apart in the column), and taken
 * one by one between the matcher's steps the misses came one after another: a tenth of the query mix's time. So
 * matches are noted first and counted afterwards in a tight loop that asks for the codes some matches ahead. */
static void count_facets(const FacetColumn &column, const std::vector<Xapian::docid> &matched, size_t fields,
                         void (*facet)(void *, unsigned, const char *, size_t, unsigned), void *ctx) {
    std::vector<std::vector<unsigned>> counts(fields);
    for (size_t f = 0; f < fields; ++f) counts[f].assign(column.dictionary.names[f].size() + 1, 0);
    const uint16_t *codes = column.codes.data();
    const size_t size = column.codes.size();
    constexpr size_t ahead = 16;
    for (size_t i = 0; i < matched.size(); ++i) {
        if (i + ahead < matched.size()) {
            size_t next = static_cast<size_t>(matched[i + ahead]) * FacetColumn::stride;
            if (next + FacetColumn::stride <= size) {
                __builtin_prefetch(codes + next);
                __builtin_prefetch(codes + next + FacetColumn::stride - 1);   /* a document's codes may span two lines */
            }
        }
        size_t at = static_cast<size_t>(matched[i]) * FacetColumn::stride;
        if (at >= size) continue;
        const uint16_t *c = codes + at;
        for (size_t f = 0; f < fields; ++f) ++counts[f][c[f]];
    }
    for (size_t f = 0; f < fields; ++f) {
        for (size_t code = 1; code < counts[f].size(); ++code) {
            if (counts[f][code] == 0) continue;
            const std::string &name = column.dictionary.names[f][code - 1];
            facet(ctx, static_cast<unsigned>(f), name.data(), name.size(), counts[f][code]);
        }
    }
}

/* Notes the matches the matcher accepts, for `count_facets` (used where `WalkSource` cannot serve). */
struct ColumnFacetSpy : public FacetSpy {
    const FacetColumn &column;
    size_t fields;
    std::vector<Xapian::docid> matched;
    ColumnFacetSpy(const FacetColumn &c, size_t f) : column(c), fields(f) { matched.reserve(1024); }
    void operator()(const Xapian::Document &doc, double) override { matched.push_back(doc.get_docid()); }
    void report(void (*facet)(void *, unsigned, const char *, size_t, unsigned), void *ctx) const override {
        count_facets(column, matched, fields, facet, ctx);
    }
};

/* Beside a query ranked by relevance (as AND_MAYBE's right side): matches every document and weighs it a hair
 * less the later it comes, at most 1e-6, far below any difference of BM25 weights. Xapian breaks ties by
 * document id already, so the order stays as it was; but a match whose weight only equals the page's lowest
 * now weighs less, and the matcher drops it at once: before, each such match was pushed into the page's heap
 * and popped again (a quarter of the time of a query with thousands of equal matches, such as "pad thai").
 * And since the matcher then passes such matches by before its match spies, the source notes every match
 * whose weight the matcher asks for (every one it walks) in `walked`, for counting facets. */
class WalkSource : public Xapian::PostingSource {
    std::shared_ptr<std::vector<Xapian::docid>> walked;
    Xapian::Database db;
    Xapian::PostingIterator all, end;
    bool started = false, ended = false;
    Xapian::docid pos = 0;
    double step = 0;
    Xapian::doccount docs = 0;
    static constexpr double most = 1e-6;

    void advance(Xapian::docid to) {
        if (!started) { all = db.postlist_begin(std::string()); end = db.postlist_end(std::string()); started = true; }
        if (all != end) all.skip_to(to);
        if (all == end) { ended = true; return; }
        pos = *all;
    }

public:
    explicit WalkSource(std::shared_ptr<std::vector<Xapian::docid>> w) : walked(std::move(w)) {}
    void init(const Xapian::Database &d) override {
        db = d;
        started = ended = false;
        pos = 0;
        docs = d.get_doccount();
        step = most / (static_cast<double>(d.get_lastdocid()) + 1);
        set_maxweight(most);
    }
    Xapian::doccount get_termfreq_min() const override { return docs; }
    Xapian::doccount get_termfreq_est() const override { return docs; }
    Xapian::doccount get_termfreq_max() const override { return docs; }
    void next(double) override { advance(pos + 1); }
    void skip_to(Xapian::docid did, double) override { if (did > pos) advance(did); }
    bool check(Xapian::docid did, double) override {
        pos = did;   /* the caller names a document that exists, and every document matches */
        return true;
    }
    bool at_end() const override { return ended; }
    Xapian::docid get_docid() const override { return pos; }
    double get_weight() const override {
        if (walked->empty() || walked->back() < pos) walked->push_back(pos);
        return most - step * static_cast<double>(pos);
    }
    WalkSource *clone() const override { return new WalkSource(walked); }
    std::string name() const override { return std::string(); }
};

/* Counts facet values packed in one slot (fields separated by 0x1F), read from each match: used
 * when the reader's facet column cannot serve. */
struct PackedFacetSpy : public FacetSpy {
    Xapian::valueno slot;
    std::vector<std::unordered_map<std::string, unsigned>> counts;
    PackedFacetSpy(Xapian::valueno s, size_t fields) : slot(s), counts(fields) {}
    void operator()(const Xapian::Document &doc, double) override {
        each_packed_field(doc.get_value(slot), counts.size(), [&](size_t field, std::string value) {
            ++counts[field][std::move(value)];
            return true;
        });
    }
    void report(void (*facet)(void *, unsigned, const char *, size_t, unsigned), void *ctx) const override {
        for (size_t i = 0; i < counts.size(); ++i) {
            for (const auto &kv : counts[i]) facet(ctx, static_cast<unsigned>(i), kv.first.data(), kv.first.size(), kv.second);
        }
    }
};

long hx_rdb_run(hx_rdb *db, const hx_query *q, const hx_search_options *o,
                void (*hit)(void *, unsigned, const char *, size_t, double),
                void (*facet)(void *, unsigned, const char *, size_t, unsigned),
                void *ctx, char **err) {
    long estimate = -1;
    guarded(err, [&] {
        Xapian::Enquire enquire(db->db);
        std::unique_ptr<OpenNowDecider> decider;
        if (o->open_hours_slot >= 0) decider.reset(new OpenNowDecider(o));
        /* Words ranked by relevance alone, with no decider: the walk source takes equal matches off the page's
         * heap and notes every match walked (see `WalkSource`); a decider would reject some of them after. */
        std::shared_ptr<std::vector<Xapian::docid>> walked;
        if (o->walk_matches && o->sort_slot < 0 && o->sort_geo_slot < 0 && !decider) {
            walked = std::make_shared<std::vector<Xapian::docid>>();
            walked->reserve(1024);
            enquire.set_query(Xapian::Query(Xapian::Query::OP_AND_MAYBE, q->q, Xapian::Query((new WalkSource(walked))->release())));
        } else {
            enquire.set_query(q->q);
        }
        /* BM25 without document-length normalisation (b = 0): dishes and restaurants are short and
         * alike, and the length look-up per matching term was a fifth of a menu search. */
        enquire.set_weighting_scheme(Xapian::BM25Weight(1, 0, 1, 0, 0.5));
        if (o->sort_slot >= 0) enquire.set_sort_by_value_then_relevance(static_cast<Xapian::valueno>(o->sort_slot), o->sort_descending != 0);
        std::unique_ptr<NearestKeyMaker> keymaker;
        if (o->sort_geo_slot >= 0) {
            Xapian::valueno slot = static_cast<Xapian::valueno>(o->sort_geo_slot);
            PointColumn &column = db->points[slot];
            bring_current(column, db->db, slot);
            keymaker.reset(new NearestKeyMaker(column.points, Xapian::LatLongCoord(o->sort_lat, o->sort_lng)));
            enquire.set_sort_by_key_then_relevance(keymaker.get(), false);
        }
        std::unique_ptr<FacetSpy> facets;
        bool column = false;
        if (o->facet_slot >= 0 && o->facet_count > 0) {
            Xapian::valueno slot = static_cast<Xapian::valueno>(o->facet_slot);
            column = o->facet_count <= FacetColumn::stride && db->facets.current(db->db, slot);
            if (column && !walked) {
                facets.reset(new ColumnFacetSpy(db->facets, o->facet_count));
            } else if (!column) {
                facets.reset(new PackedFacetSpy(slot, o->facet_count));
            }
            if (facets) enquire.add_matchspy(facets.get());
        }
        Xapian::MSet mset = enquire.get_mset(o->offset, o->limit, o->check_at_least, nullptr, decider.get());
        for (Xapian::MSetIterator it = mset.begin(); it != mset.end(); ++it) {
            std::string data = doc_data(it.get_document());
            hit(ctx, *it, data.data(), data.size(), it.get_weight());
        }
        if (facets) facets->report(facet, ctx);
        else if (column) count_facets(db->facets, *walked, o->facet_count, facet, ctx);
        estimate = static_cast<long>(mset.get_matches_estimated());
        /* Every match walked is a match: a floor for Xapian's estimate. */
        if (walked && walked->size() > static_cast<size_t>(estimate)) estimate = static_cast<long>(walked->size());
    });
    return estimate;
}

int hx_rdb_terms(hx_rdb *db, const char *prefix, int words_only,
                 void (*each)(void *, const char *, size_t, unsigned), void *ctx, char **err) {
    return guarded(err, [&] {
        std::string p = prefix ? prefix : "";
        Xapian::TermIterator end = db->db.allterms_end(p);
        for (Xapian::TermIterator t = db->db.allterms_begin(p); t != end;) {
            std::string term = *t;
            if (words_only && !term.empty() && term[0] >= 'A' && term[0] <= 'Z') {
                /* Jump over the whole prefixed block, e.g. from "Qm:…" to "R". */
                t.skip_to(std::string(1, static_cast<char>(term[0] + 1)));
                continue;
            }
            each(ctx, term.data(), term.size(), t.get_termfreq());
            ++t;
        }
    });
}

}
