#include "cxapian.h"
#include <xapian.h>
#include <cstdlib>
#include <cstring>
#include <string>

struct hx_wdb { Xapian::WritableDatabase db; };
struct hx_rdb { Xapian::Database db; };
struct hx_doc { Xapian::Document doc; Xapian::TermGenerator gen; };

static char *dup_string(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) { std::memcpy(p, s.data(), s.size()); p[s.size()] = '\0'; }
    return p;
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

extern "C" {

void hx_free(void *p) { std::free(p); }

hx_wdb *hx_wdb_open(const char *path, char **err) {
    hx_wdb *out = nullptr;
    guarded(err, [&] { out = new hx_wdb{Xapian::WritableDatabase(path, Xapian::DB_CREATE_OR_OPEN)}; });
    return out;
}

void hx_wdb_close(hx_wdb *db) {
    if (!db) return;
    try { db->db.close(); } catch (...) {}
    delete db;
}

int hx_wdb_replace(hx_wdb *db, const char *idterm, hx_doc *doc, char **err) {
    return guarded(err, [&] {
        doc->doc.add_boolean_term(idterm);
        db->db.replace_document(idterm, doc->doc);
    });
}

int hx_wdb_delete(hx_wdb *db, const char *idterm, char **err) {
    return guarded(err, [&] { db->db.delete_document(idterm); });
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
            out = dup_string(db->db.get_document(*it).get_value(slot));
        }
    });
    return out;
}

int hx_wdb_commit(hx_wdb *db, char **err) {
    return guarded(err, [&] { db->db.commit(); });
}

long hx_wdb_doccount(hx_wdb *db, char **err) {
    long n = -1;
    guarded(err, [&] { n = static_cast<long>(db->db.get_doccount()); });
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
    return guarded(err, [&] { doc->doc.set_data(std::string(data, len)); });
}

int hx_doc_add_boolean_term(hx_doc *doc, const char *term, char **err) {
    return guarded(err, [&] { doc->doc.add_boolean_term(term); });
}

int hx_doc_index_text(hx_doc *doc, const char *text, unsigned weight, const char *prefix, char **err) {
    return guarded(err, [&] {
        doc->gen.index_text(text, weight, prefix ? prefix : "");
        doc->gen.increase_termpos();
    });
}

int hx_doc_add_value(hx_doc *doc, unsigned slot, const char *value, size_t len, char **err) {
    return guarded(err, [&] { doc->doc.add_value(slot, std::string(value, len)); });
}

hx_rdb *hx_rdb_open(const char *path, char **err) {
    hx_rdb *out = nullptr;
    guarded(err, [&] { out = new hx_rdb{Xapian::Database(path)}; });
    return out;
}

void hx_rdb_close(hx_rdb *db) {
    if (!db) return;
    try { db->db.close(); } catch (...) {}
    delete db;
}

int hx_rdb_reopen(hx_rdb *db, char **err) {
    return guarded(err, [&] { db->db.reopen(); });
}

long hx_rdb_doccount(hx_rdb *db, char **err) {
    long n = -1;
    guarded(err, [&] { n = static_cast<long>(db->db.get_doccount()); });
    return n;
}

long hx_rdb_search(hx_rdb *db, const char *query, const char *filter_term,
                   unsigned offset, unsigned limit,
                   void (*each)(void *, const char *, size_t, double),
                   void *ctx, char **err) {
    long estimate = -1;
    guarded(err, [&] {
        Xapian::QueryParser qp;
        qp.set_database(db->db);
        qp.set_stemmer(Xapian::Stem("english"));
        qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
        qp.set_default_op(Xapian::Query::OP_AND);
        Xapian::Query q = qp.parse_query(query, Xapian::QueryParser::FLAG_DEFAULT | Xapian::QueryParser::FLAG_PARTIAL);
        if (filter_term && *filter_term) {
            q = Xapian::Query(Xapian::Query::OP_FILTER, q, Xapian::Query(filter_term));
        }
        Xapian::Enquire enquire(db->db);
        enquire.set_query(q);
        Xapian::MSet mset = enquire.get_mset(offset, limit);
        for (Xapian::MSetIterator it = mset.begin(); it != mset.end(); ++it) {
            std::string data = it.get_document().get_data();
            each(ctx, data.data(), data.size(), it.get_weight());
        }
        estimate = static_cast<long>(mset.get_matches_estimated());
    });
    return estimate;
}

char *hx_rdb_get_metadata(hx_rdb *db, const char *key, char **err) {
    char *out = nullptr;
    guarded(err, [&] { out = dup_string(db->db.get_metadata(key)); });
    return out;
}

}
