/* audit_file.c — opening an audit file for reading (see audit_file.h). */
#include "audit_file.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* An archive is at most this large once inflated (an archive holds one period). */
#define MAX_INFLATED ((sqlite3_int64)8 << 30)

static sqlite3 *open_gzip(const char *path, cds_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        cds_error_set(err, CDS_EIO, NULL, "%s: cannot open", path);
        return NULL;
    }
    gzbuffer(gz, 1 << 17);
    sqlite3_int64 cap = 1 << 20, len = 0;
    unsigned char *buf = sqlite3_malloc64((sqlite3_uint64)cap);
    int n = 0;
    while (buf && (n = gzread(gz, buf + len, (unsigned)(cap - len > (1 << 30) ? 1 << 30 : cap - len))) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *p = cap < MAX_INFLATED ? sqlite3_realloc64(buf, (sqlite3_uint64)cap * 2) : NULL;
            if (!p) {
                sqlite3_free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    int zerr = 0;
    const char *zmsg = gzerror(gz, &zerr);
    if (!buf || n < 0 || zerr < 0) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, !buf ? "too large or out of memory" : zmsg);
        gzclose(gz);
        sqlite3_free(buf);
        return NULL;
    }
    gzclose(gz);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        sqlite3_free(buf);
        return NULL;
    }
    if (sqlite3_deserialize(db, "main", buf, len, cap, SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) !=
            SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);   /* FREEONCLOSE: the buffer goes with it, even on failure */
        return NULL;
    }
    return db;
}

sqlite3 *cds_audit_file_open(const char *path, cds_error *err)
{
    unsigned char magic[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        cds_error_set(err, CDS_EIO, NULL, "%s: cannot open", path);
        return NULL;
    }
    size_t got = fread(magic, 1, 2, f);
    fclose(f);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) return open_gzip(path, err);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    /* A report or verify reads a period's rows and their index entries: through the page cache
     * (mapped, no copy per page read) with room for the indexes' inner pages, and sorts in
     * memory. With SQLite's 2 MB cache, a month's report on a year of history spent most of its
     * time re-reading index pages (3x the same report on a month of history). */
    sqlite3_exec(db, "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    return db;
}

bool cds_audit_live_only(sqlite3 *db, cds_error *err)
{
    sqlite3_stmt *st = NULL;
    bool has = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('decision', 'main') WHERE name = 'shadow'", -1, &st,
                                  NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!has) return true;
    if (sqlite3_exec(db, "CREATE TEMP VIEW IF NOT EXISTS decision AS SELECT * FROM main.decision WHERE shadow IS NULL", NULL,
                     NULL, NULL) == SQLITE_OK)
        return true;
    cds_error_set(err, CDS_EIO, NULL, "cannot set aside the shadow decisions: %s", sqlite3_errmsg(db));
    return false;
}
