/* shim_vfs.h — a SQLite VFS over the default one whose files forward every call, with hooks
 * that can fail a read, a write or a sync (header-only, for the fault-injection tests). */
#ifndef CDS_SHIM_VFS_H
#define CDS_SHIM_VFS_H

#include <sqlite3.h>

/* Return an SQLite error code to fail the operation, 0 to let it through. NULL: never fail. */
static int (*shim_fail_read)(void), (*shim_fail_write)(void), (*shim_fail_sync)(void);

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;   /* the default VFS's file, allocated right after this struct */
} shim_file;

static sqlite3_vfs *shim_real_vfs;
#define REAL(f) (((shim_file *)(f))->real)

static int s_close(sqlite3_file *f) { return REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK; }
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    int rc = shim_fail_read ? shim_fail_read() : 0;
    return rc ? rc : REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    int rc = shim_fail_write ? shim_fail_write() : 0;
    return rc ? rc : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int s_sync(sqlite3_file *f, int flags)
{
    int rc = shim_fail_sync ? shim_fail_sync() : 0;
    return rc ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int s_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int s_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int s_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int s_fcntl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int s_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int s_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int s_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int s_shmlock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void s_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int s_shmunmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int s_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp); }
static int s_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

/* Version 3 forwards shared memory and memory-mapped reads (WAL databases); version 1 has
 * neither, so that every page read is an xRead the hook sees. */
static sqlite3_io_methods shim_methods = {
    3, s_close, s_read, s_write, s_truncate, s_sync, s_size, s_lock, s_unlock, s_reserved, s_fcntl, s_sector,
    s_devchar, s_shmmap, s_shmlock, s_shmbarrier, s_shmunmap, s_fetch, s_unfetch};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    shim_file *sf = (shim_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->real->pMethods = NULL;
    int rc = shim_real_vfs->xOpen(shim_real_vfs, name, sf->real, flags, out);
    f->pMethods = sf->real->pMethods ? &shim_methods : NULL;
    return rc;
}

static sqlite3_vfs shim_vfs;

/* Registers the shim as `name` (once), with io_version 1 or 3, as the default VFS if asked. */
static void shim_vfs_install(const char *name, int io_version, int make_default)
{
    if (shim_real_vfs) return;
    shim_real_vfs = sqlite3_vfs_find(NULL);
    shim_methods.iVersion = io_version;
    shim_vfs = *shim_real_vfs;
    shim_vfs.zName = name;
    shim_vfs.szOsFile = (int)sizeof(shim_file) + shim_real_vfs->szOsFile;
    shim_vfs.xOpen = s_open;
    sqlite3_vfs_register(&shim_vfs, make_default);
}

#endif
