/* config_file.h — reading a `key = value` file (cdsd.conf) into entries, each with its line. */
#ifndef CDS_CONFIG_FILE_H
#define CDS_CONFIG_FILE_H

#include <stddef.h>

typedef struct cds_config_entry {
    char *key;     /* owned by the file's entries */
    char *value;   /* "" for a bare key; owned */
    int line;      /* 1-based */
} cds_config_entry;

typedef struct cds_config_file {
    char *path;    /* as given; owned */
    cds_config_entry *entries;
    size_t n;
} cds_config_file;

/* Reads PATH: one `key = value` (or a bare `key`) per line; blank lines and lines starting with
 * '#' are skipped, as is a ` # comment` after a value (a '#' preceded by a space or tab); spaces
 * around key and value are trimmed; a value may be wrapped in double quotes to keep a '#' or edge
 * spaces. On failure returns 0 with "PATH:LINE: why" (or "PATH: why") in err, else 1 and *out
 * filled (free it with cds_config_file_free). */
int cds_config_file_read(const char *path, cds_config_file *out, char *err, size_t errlen);
void cds_config_file_free(cds_config_file *f);

#endif
