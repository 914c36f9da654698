/* cli_config.c — `cdsd config check`: validates a config file as `cdsd serve` would read it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serve_flags.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd config check [FILE]\n"
               "Reads FILE (default %s) as 'cdsd serve --config FILE' would: every key a serve flag,\n"
               "every value valid, the rules directory present. Prints 'FILE: ok' and exits 0, or the first\n"
               "problem as FILE:LINE and exits 1.\n",
            CLI_INSTALLED_CONFIG);
}

int cli_config(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argc > 3 || strcmp(argv[1], "check") != 0) {
        usage(stderr);
        return 2;
    }
    const char *path = argc == 3 ? argv[2] : CLI_INSTALLED_CONFIG;
    serve_config c;
    serve_config_defaults(&c);
    cds_config_file file;
    char err[600];
    int ok = cds_config_file_read(path, &file, err, sizeof err) && serve_config_apply_file(&c, &file, NULL, err, sizeof err) &&
             serve_config_check(&c, err, sizeof err);
    if (ok) printf("%s: ok\n", path);
    else fprintf(stderr, "cdsd config check: %s\n", err);
    serve_config_free(&c);
    cds_config_file_free(&file);
    return ok ? 0 : 1;
}
