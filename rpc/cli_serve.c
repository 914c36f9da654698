#include <stdio.h>
#include "cli.h"
int cli_serve(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cdsd serve: not built yet\n"); return 2; }
int cli_call(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cdsd call: not built yet\n"); return 2; }
