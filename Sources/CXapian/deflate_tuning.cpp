/* Xapian's term lists, stored without compression.
 *
 * Glass compresses every document's term list with zlib as it is written, and every document-data entry
 * (ours are only suggestions', a few dozen bytes each: other documents keep their data in a value slot, see
 * `doc_data`). For lists of a few hundred bytes,
 * zlib's fixed cost per call (clearing a 128 KiB hash table at Xapian's memLevel 9, building Huffman
 * trees) made compression a fifth of the writer's time in a catalog load, while it saved a fifth of
 * the term list table (measured at 315,000 documents: 147 MB compressed, 181 MB not). Xapian has no
 * setting for it.
 *
 * This definition takes the place of zlib's `deflateInit2_` for the whole process (an executable's
 * definition comes before a shared library's, and the linker exports it because libxapian refers to
 * it). It changes only calls with Xapian's exact arguments (raw deflate with a 32 KiB window and
 * memLevel 9): those get level 0 (stored) and memLevel 1. Glass keeps a compressed entry only when it
 * is smaller than the original, which stored output never is, so it writes the list as it is: an
 * ordinary uncompressed entry, which every Xapian reads as before. Indexes written earlier keep their
 * compressed entries and are read as before too. Any other caller's arguments pass unchanged.
 * `hx_deflate_tuned_streams` counts the streams it changed, so tests can tell it is in effect. */
#include "cxapian.h"
#include <atomic>
#include <dlfcn.h>

typedef int (*hx_deflate_init2)(void *, int, int, int, int, int, const char *, int);

static std::atomic<unsigned long> tuned_streams{0};

unsigned long hx_deflate_tuned_streams(void) { return tuned_streams.load(); }

extern "C" int deflateInit2_(void *strm, int level, int method, int windowBits, int memLevel, int strategy,
                             const char *version, int stream_size) {
    static std::atomic<hx_deflate_init2> real{nullptr};
    hx_deflate_init2 next = real.load();
    if (!next) {
        next = reinterpret_cast<hx_deflate_init2>(dlsym(RTLD_NEXT, "deflateInit2_"));
        if (!next) return -2; /* Z_STREAM_ERROR: Xapian reports it */
        real.store(next);
    }
    if (windowBits == -15 && memLevel == 9) {
        level = 0;
        memLevel = 1;
        tuned_streams.fetch_add(1);
    }
    return next(strm, level, method, windowBits, memLevel, strategy, version, stream_size);
}
