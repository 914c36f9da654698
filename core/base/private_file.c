/* private_file.c — see private_file.h. */
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int cds_create_private(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? 0 : errno;
    close(fd);
    return 0;
}
