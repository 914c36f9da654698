/* cli_serve.c — `cdsd serve`: its options from the command line and a config file (one table,
 * serve_flags.c), the command line winning. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "serve_flags.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd serve [--config FILE] [--listen URL] [--rules DIR] [--state DIR] [--http ADDR:PORT] [options]\n"
               "  --config FILE        read options from FILE ('key = value' lines, keys as below without '--');\n"
               "                       flags given here override it (default %s when installed)\n",
            CLI_INSTALLED_CONFIG);
    serve_flags_usage(f);
    fprintf(f, "SIGHUP or 'cdsd reload' reloads the rules; SIGTERM/SIGINT drain and exit.\n"
               "Under systemd (Type=notify) it reports READY=1 once the rules are loaded, WATCHDOG=1 while the\n"
               "main loop runs, RELOADING=1 around a reload and STOPPING=1 when it drains.\n");
}

/* The config file a packaged cdsd reads by default: only when this binary is the installed one
 * (/usr/bin/cdsd) and the file exists; a build in a checkout reads none unless told. */
static const char *default_config(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = '\0';
    return strcmp(self, CLI_INSTALLED_BINARY) == 0 && access(CLI_INSTALLED_CONFIG, F_OK) == 0 ? CLI_INSTALLED_CONFIG
                                                                                            : NULL;
}

int cli_serve(int argc, char **argv)
{
    size_t nflags = serve_flag_count();
    struct option *opts = calloc(nflags + 3, sizeof *opts);
    bool *on_cli = calloc(nflags, sizeof *on_cli);
    struct { const serve_flag *f; const char *v; } *given = calloc((size_t)argc, sizeof *given);
    serve_config c;
    serve_config_defaults(&c);
    cds_config_file file = {0};
    int status = 2, ngiven = 0;
    const char *config = NULL;
    char err[600];
    if (!opts || !on_cli || !given) {
        fprintf(stderr, "cdsd serve: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nflags; i++) {
        const serve_flag *f = serve_flag_at(i);
        opts[i] = (struct option){serve_flag_name(f), serve_flag_takes_value(f) ? required_argument : no_argument, 0,
                                  256 + (int)i};
    }
    opts[nflags] = (struct option){"config", required_argument, 0, 'c'};
    opts[nflags + 1] = (struct option){"help", no_argument, 0, 'h'};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            status = 0;
            goto out;
        } else if (ch == 'c') {
            config = optarg;
        } else if (ch >= 256) {
            given[ngiven].f = serve_flag_at((size_t)(ch - 256));
            given[ngiven++].v = optarg;
            on_cli[ch - 256] = true;
        } else {
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cdsd serve: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!config) config = default_config();
    if (config) {
        /* The whole file is checked, keys the command line overrides too: the next start without
         * the flag must not find a broken file. */
        serve_config whole;
        serve_config_defaults(&whole);
        bool ok = cds_config_file_read(config, &file, err, sizeof err) &&
                  serve_config_apply_file(&whole, &file, NULL, err, sizeof err) &&
                  serve_config_apply_file(&c, &file, on_cli, err, sizeof err);
        serve_config_free(&whole);
        if (!ok) {
            fprintf(stderr, "cdsd serve: %s\n", err);
            goto out;
        }
    }
    for (int i = 0; i < ngiven; i++)
        if (!serve_flag_apply(given[i].f, &c, given[i].v, err, sizeof err)) {
            fprintf(stderr, "cdsd serve: --%s: %s\n", serve_flag_name(given[i].f), err);
            goto out;
        }
    if (!serve_config_check(&c, err, sizeof err)) {
        fprintf(stderr, "cdsd serve: %s\n", err);
        goto out;
    }
    cds_log_set_level((cds_log_level)c.log_level);
    if (config) cds_log(CDS_LOG_INFO, "start", "config %s (command-line flags override it)", config);
    struct stat st;
    if (strcmp(c.o.fixtures, "none") == 0 || stat(c.o.fixtures, &st) != 0) c.o.fixtures = NULL;
    status = cds_server_run(&c.o);
out:
    serve_config_free(&c);
    cds_config_file_free(&file);
    free(given);
    free(on_cli);
    free(opts);
    return status;
}
