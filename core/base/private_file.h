/* private_file.h — files only their owner may read: the databases in the state directory
 * (audit log with feedback, knowledge-base cache). SQLite creates a database 0644 less the
 * umask, and its -wal and -shm files take the database's mode: creating the file 0600 first
 * makes all three private whatever the umask. */
#ifndef CDS_PRIVATE_FILE_H
#define CDS_PRIVATE_FILE_H

/* Creates path with mode 0600 when it does not exist (an existing file keeps its mode).
 * SQLite's ":memory:" and "file:" URIs are left alone. 0, or an errno. */
int cds_create_private(const char *path);

#endif
