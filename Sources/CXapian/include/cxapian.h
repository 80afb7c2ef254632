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

void hx_free(void *p);

hx_wdb *hx_wdb_open(const char *path, char **err);
void hx_wdb_close(hx_wdb *db);
int hx_wdb_replace(hx_wdb *db, const char *idterm, hx_doc *doc, char **err);
int hx_wdb_delete(hx_wdb *db, const char *idterm, char **err);
int hx_wdb_set_metadata(hx_wdb *db, const char *key, const char *value, char **err);
/* Returns a malloc'd string ("" when unset), or NULL on error. */
char *hx_wdb_get_metadata(hx_wdb *db, const char *key, char **err);
/* The value in `slot` of the document indexed by `idterm`; NULL with *err unset when absent. */
char *hx_wdb_get_value(hx_wdb *db, const char *idterm, unsigned slot, char **err);
int hx_wdb_commit(hx_wdb *db, char **err);
long hx_wdb_doccount(hx_wdb *db, char **err);

hx_doc *hx_doc_new(void);
void hx_doc_free(hx_doc *doc);
int hx_doc_set_data(hx_doc *doc, const char *data, size_t len, char **err);
int hx_doc_add_boolean_term(hx_doc *doc, const char *term, char **err);
int hx_doc_index_text(hx_doc *doc, const char *text, unsigned weight, const char *prefix, char **err);
int hx_doc_add_value(hx_doc *doc, unsigned slot, const char *value, size_t len, char **err);

hx_rdb *hx_rdb_open(const char *path, char **err);
void hx_rdb_close(hx_rdb *db);
int hx_rdb_reopen(hx_rdb *db, char **err);
long hx_rdb_doccount(hx_rdb *db, char **err);
/* Runs a parsed free-text query (with an optional boolean filter term) and
 * calls `each` for every hit with its document data. Returns the estimated
 * match count, or -1 on error. */
long hx_rdb_search(hx_rdb *db, const char *query, const char *filter_term,
                   unsigned offset, unsigned limit,
                   void (*each)(void *ctx, const char *data, size_t len, double weight),
                   void *ctx, char **err);
char *hx_rdb_get_metadata(hx_rdb *db, const char *key, char **err);

#ifdef __cplusplus
}
#endif
#endif
