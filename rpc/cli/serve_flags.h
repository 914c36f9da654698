/* serve_flags.h — every `cdsd serve` option in one table: the command line's --flags and the
 * config file's keys are the same names, parsed by the same code, so a new flag is a config key. */
#ifndef CDS_SERVE_FLAGS_H
#define CDS_SERVE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config_file.h"
#include "server.h"

typedef struct serve_config {
    cds_server_opts o;
    int log_level;          /* cds_log_level */
} serve_config;

typedef struct serve_flag serve_flag;   /* one row of the table (serve_flags.c) */

/* The defaults `cdsd serve` starts from (workers: one per core). */
void serve_config_defaults(serve_config *c);

/* The flag named NAME (without "--"), or NULL. */
const serve_flag *serve_flag_find(const char *name);
size_t serve_flag_count(void);
const serve_flag *serve_flag_at(size_t i);
const char *serve_flag_name(const serve_flag *f);
bool serve_flag_takes_value(const serve_flag *f);
bool serve_flag_repeatable(const serve_flag *f);

/* Applies one value (NULL for a switch given on the command line) to c. On a bad value, false
 * with the reason in err (without the flag's name: the caller says "--NAME" or "FILE:LINE: NAME").
 * The value must outlive c (it may be kept by pointer). */
bool serve_flag_apply(const serve_flag *f, serve_config *c, const char *value, char *err, size_t errlen);

/* Applies a config file's entries to c, skipping the flags marked in given_on_cli (indexed like
 * serve_flag_at; NULL: none), which the command line overrides. An unknown key, a bad value, a
 * second value for a flag that takes one: false with "FILE:LINE: KEY: why" in err. The file's
 * strings must outlive c. */
bool serve_config_apply_file(serve_config *c, cds_config_file *file, const bool *given_on_cli, char *err,
                             size_t errlen);

/* What no single value shows: TLS cert and key together, the rule set a directory. */
bool serve_config_check(const serve_config *c, char *err, size_t errlen);

/* Frees what applying values allocated (the JWT verifier). */
void serve_config_free(serve_config *c);

/* The option list of `cdsd serve --help`, one line per flag, from the table. */
void serve_flags_usage(FILE *f);

#endif
