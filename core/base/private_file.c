/* private_file.c — see private_file.h. */
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int cds_create_private(const char *path)
{
    if (!*path || !strcmp(path, ":memory:") || !strncmp(path, "file:", 5)) return 0;   /* SQLite's names, not files */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? 0 : errno;
    close(fd);
    return 0;
}
