#ifndef CXAPIAN_H
#define CXAPIAN_H
/*
 * A plain C API over Xapian. Every function catches every C++ exception and
 * reports it through `err` (a malloc'd string the caller frees with hx_free),
 * so a Xapian error can never terminate the process.
 * Functions returning int return 0 on success and -1 on error.
 */
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hx_wdb hx_wdb;   /* a WritableDatabase */
typedef struct hx_rdb hx_rdb;   /* a read-only Database */
typedef struct hx_doc hx_doc;   /* a Document under construction */
typedef struct hx_query hx_query;   /* a Query (see "Queries" below) */

void hx_free(void *p);

/* The value slot that holds a document's data (set with hx_doc_set_data, read back by every
 * function here that returns data); slots below it are the index's own. */
#define HX_DATA_SLOT 12

/* How many zlib streams were set up to leave Xapian's term lists uncompressed (deflate_tuning.cpp). */
unsigned long hx_deflate_tuned_streams(void);

hx_wdb *hx_wdb_open(const char *path, char **err);
/* Closes the database and releases its write lock now; later calls on `db` fail with DatabaseClosedError.
 * `hx_wdb_close` still frees it. */
int hx_wdb_release(hx_wdb *db, char **err);
void hx_wdb_close(hx_wdb *db);
/* Writes `doc` as the document indexed by `idterm`; *docid (when not NULL) receives its docid. */
int hx_wdb_replace(hx_wdb *db, const char *idterm, hx_doc *doc, unsigned *docid, char **err);
/* Writes `doc` as document `docid`, which exists. */
int hx_wdb_replace_docid(hx_wdb *db, unsigned docid, hx_doc *doc, char **err);
/* Adds `doc` as a new document; *docid (when not NULL) receives its docid. */
int hx_wdb_add(hx_wdb *db, hx_doc *doc, unsigned *docid, char **err);
/* Deletes every document holding `idterm`. */
int hx_wdb_delete(hx_wdb *db, const char *idterm, char **err);
/* Deletes document `docid`, which exists. */
int hx_wdb_delete_docid(hx_wdb *db, unsigned docid, char **err);
int hx_wdb_set_metadata(hx_wdb *db, const char *key, const char *value, char **err);
/* Returns a malloc'd string ("" when unset), or NULL on error. */
char *hx_wdb_get_metadata(hx_wdb *db, const char *key, char **err);
/* The value in `slot` of the document indexed by `idterm`; NULL with *err unset when absent. */
char *hx_wdb_get_value(hx_wdb *db, const char *idterm, unsigned slot, char **err);
int hx_wdb_commit(hx_wdb *db, char **err);
/* A flushed transaction: every change between begin and commit is written together, and
 * cancel discards them all. */
int hx_wdb_begin(hx_wdb *db, char **err);
int hx_wdb_commit_transaction(hx_wdb *db, char **err);
int hx_wdb_cancel(hx_wdb *db, char **err);
long hx_wdb_doccount(hx_wdb *db, char **err);
/* Documents holding `term`, or -1 on error. */
long hx_wdb_termfreq(hx_wdb *db, const char *term, char **err);

hx_doc *hx_doc_new(void);
void hx_doc_free(hx_doc *doc);
int hx_doc_set_data(hx_doc *doc, const char *data, size_t len, char **err);
/* Sets Xapian's own document data (for suggestions: see doc_data in cxapian.cpp). */
int hx_doc_set_document_data(hx_doc *doc, const char *data, size_t len, char **err);
int hx_doc_add_boolean_term(hx_doc *doc, const char *term, char **err);
int hx_doc_index_text(hx_doc *doc, const char *text, unsigned weight, const char *prefix, char **err);
int hx_doc_add_value(hx_doc *doc, unsigned slot, const char *value, size_t len, char **err);

hx_rdb *hx_rdb_open(const char *path, char **err);
void hx_rdb_close(hx_rdb *db);
/* Moves to the latest commit: 1 when the database may have moved, 0 when it had not changed, -1 on error. */
int hx_rdb_reopen(hx_rdb *db, char **err);
/* How often the reader's facet column was read whole, and brought up to a newer revision from the
 * writer's lists of written documents (for tests and diagnostics). */
void hx_rdb_facet_column_stats(hx_rdb *db, unsigned long *full_loads, unsigned long *updates);
/* Brings the reader's columns (facets in `facet_slot` unless negative, numbers and coordinates in the given slots,
 * flags of the given sorted terms unless none) to its revision, reading them whole the first time: what the first
 * queries on a reader would otherwise read. */
int hx_rdb_load_columns(hx_rdb *db, int facet_slot, const unsigned *number_slots, size_t numbers, const unsigned *point_slots,
                        size_t points, const char *const *flag_terms, size_t flags, char **err);
/* `each` for every document holding `term`, in docid order, with its data (with `data_first`, Xapian's document data
 * when it has some, else the data slot: see doc_data). */
int hx_rdb_postings(hx_rdb *db, const char *term, int data_first, void (*each)(void *ctx, unsigned docid, const char *data, size_t len),
                    void *ctx, char **err);
long hx_rdb_doccount(hx_rdb *db, char **err);
/* The commit the reader sees (its revision number); -1 on error. */
long long hx_rdb_revision(hx_rdb *db, char **err);
/* Documents whose number in `slot` (sortable-serialised) lies within [lower, upper] (an end is open unless
 * has_lower / has_upper): the matches of a value range, tested against the reader's copy of the slot. The
 * query holds the numbers as of the reader's revision when it was made. */
hx_query *hx_rdb_range(hx_rdb *db, unsigned slot, int has_lower, double lower, int has_upper, double upper, char **err);
/* Documents holding every term of `terms` named by the bits of `required` (at least one) and none of those named
 * by `forbidden` (bit i: terms[i]; 1 to 8 terms, sorted): the matches of those terms' AND and AND NOT, tested
 * against the reader's copy of each document's flags. */
hx_query *hx_rdb_flags(hx_rdb *db, const char *const *terms, size_t count, unsigned required, unsigned forbidden, char **err);
char *hx_rdb_get_metadata(hx_rdb *db, const char *key, char **err);

/* Writer: the data of the document indexed by `idterm` (NULL with *err unset when absent;
 * *len receives its length and, when not NULL, *docid its docid), and every document holding `term`. */
char *hx_wdb_get_data(hx_wdb *db, const char *idterm, size_t *len, unsigned *docid, char **err);
/* The data of document `docid` (NULL with *err unset when there is no such document). */
char *hx_wdb_get_data_docid(hx_wdb *db, unsigned docid, size_t *len, char **err);
/* The first document holding `term` (0: none; -1: error). */
long hx_wdb_docid(hx_wdb *db, const char *term, char **err);
/* Every document's value in `slot` (documents without one are skipped). */
int hx_wdb_values(hx_wdb *db, unsigned slot, void (*each)(void *, unsigned docid, const char *value, size_t len), void *ctx, char **err);
/* Sets (lens[i] > 0) or removes (lens[i] == 0) `count` values of document `docid`, which must exist, leaving its terms:
 * Xapian then rewrites neither its term list nor its postings. Slot HX_DATA_SLOT is its data. With `replace_all`
 * the document's other values are removed (and so need not be read). */
int hx_wdb_set_values(hx_wdb *db, unsigned docid, const unsigned *slots, const char *const *values, const size_t *lens,
                      size_t count, int replace_all, char **err);
/* `each` for every term starting with `prefix`, with the first document holding it and that document's data
 * (Xapian's document data when it has some, as suggestions keep it, else the data slot; `in_slot` tells whether
 * the data came from the data slot). */
int hx_wdb_terms(hx_wdb *db, const char *prefix,
                 void (*each)(void *ctx, const char *term, size_t term_len, unsigned docid, const char *data, size_t len, int in_slot),
                 void *ctx, char **err);
/* Sets the document data (Xapian's, not the data slot) of document `docid`, which must exist, leaving its terms and,
 * unless `clear_values`, its values: Xapian then rewrites only its docdata entry. */
int hx_wdb_set_document_data(hx_wdb *db, unsigned docid, const char *data, size_t len, int clear_values, char **err);
int hx_wdb_postings(hx_wdb *db, const char *term,
                    void (*each)(void *ctx, unsigned docid, const char *data, size_t len),
                    void *ctx, char **err);

/* English stem of a lower-case word (malloc'd). */
char *hx_stem(const char *word, char **err);

/* Queries: built bottom-up; every constructor copies its inputs, so subqueries may be
 * freed right after use. */
enum { HX_OP_AND = 0, HX_OP_OR = 1, HX_OP_AND_NOT = 2, HX_OP_FILTER = 3, HX_OP_AND_MAYBE = 4, HX_OP_SYNONYM = 5 };
hx_query *hx_query_term(const char *term, char **err);
hx_query *hx_query_match_all(char **err);
hx_query *hx_query_combine(int op, hx_query *const *subs, size_t n, char **err);
hx_query *hx_query_scale(const hx_query *q, double factor, char **err);
/* Matches documents with a number in `slot` (sortable-serialised), weighted by it times `scale`. */
hx_query *hx_query_value_weight(unsigned slot, double scale, char **err);
void hx_query_free(hx_query *q);

/* Number <-> sortable string (Xapian::sortable_serialise). */
size_t hx_sortable(double value, char *out, size_t cap);
double hx_unsortable(const char *value, size_t len);

/* A latitude/longitude as a value for geo queries (Xapian::LatLongCoords::serialise). */
size_t hx_latlong(double lat, double lng, char *out, size_t cap);
/* Documents within `radius_m` metres of (lat, lng) by the coordinates in `slot` (Xapian::LatLongCoords),
 * weighted more the nearer they are: the matches and weights of Xapian::LatLongDistancePostingSource with
 * k1, k2, read from the reader's copy of the slot. */
hx_query *hx_rdb_near(hx_rdb *db, unsigned slot, double lat, double lng, double radius_m, double k1, double k2, char **err);

typedef struct {
    unsigned offset;
    unsigned limit;
    unsigned check_at_least;   /* count at least this many matches exactly */
    int sort_slot;             /* -1: by relevance; else by this value slot, then relevance */
    int sort_descending;
    int sort_geo_slot;         /* >= 0: by distance from (sort_lat, sort_lng), nearest first */
    double sort_lat, sort_lng;
    /* Facets: `facet_slot` holds each match's facet values, `facet_count` fields separated by
     * 0x1F (one value read per match rather than one per facet); -1 for none. */
    int facet_slot;
    size_t facet_count;
    /* Open-now filter (open_hours_slot >= 0): a document passes when the minute of the week in
     * its zone (value of open_zone_slot, looked up in open_zones/open_minutes) falls in one of the
     * [start, end) minute pairs (little-endian uint16) of its open_hours_slot value. */
    int open_hours_slot;
    int open_zone_slot;
    const char *const *open_zones;
    const int *open_minutes;
    size_t open_zone_count;
    /* Non-zero when words weigh the matches (ranked by relevance, no open-now filter): equal matches then
     * cost the matcher little, and facets count every match it walks (see WalkSource in cxapian.cpp). A
     * query without words is left as it is: Xapian stops a weightless match after check_at_least. */
    int walk_matches;
} hx_search_options;

/* Runs `q`: `hit` for each result, `facet` for every value counted in each facet field.
 * Returns the estimated number of matches, or -1 on error. */
long hx_rdb_run(hx_rdb *db, const hx_query *q, const hx_search_options *options,
                void (*hit)(void *ctx, unsigned docid, const char *data, size_t len, double weight),
                void (*facet)(void *ctx, unsigned field, const char *value, size_t len, unsigned count),
                void *ctx, char **err);

/* Every term starting with `prefix` with its document frequency; with `words_only`, terms that
 * start with an upper-case ASCII letter (Xapian's prefixed terms: ids, filters, stems) are skipped. */
int hx_rdb_terms(hx_rdb *db, const char *prefix, int words_only,
                 void (*each)(void *ctx, const char *term, size_t len, unsigned freq),
                 void *ctx, char **err);

#ifdef __cplusplus
}
#endif
#endif
