/* cli_report.c — `cdsd report [--state DIR | --audit FILE] [--since DATE] [--until DATE] [--format text|html]
 * [--out FILE]`: the live log, or one archive or first-layout log given by --audit. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "report.h"
#include "view.h"

int cli_report(int argc, char **argv)
{
    const char *state = "var", *since = NULL, *until = NULL, *format = "text", *out = NULL, *audit = NULL;
    static const struct option opts[] = {{"state", 1, 0, 's'}, {"since", 1, 0, 'f'}, {"until", 1, 0, 'u'},
                                         {"format", 1, 0, 'F'}, {"out", 1, 0, 'o'}, {"audit", 1, 0, 'a'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'f': since = optarg; break;
        case 'u': until = optarg; break;
        case 'F': format = optarg; break;
        case 'o': out = optarg; break;
        case 'a': audit = optarg; break;
        default:
            fprintf(c == 'h' ? stdout : stderr, "usage: cdsd report [--state DIR | --audit FILE] [--since DATE] [--until DATE] "
                                                "[--format text|html] [--out FILE]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    time_t t0 = 0, t1 = (time_t)1 << 40;
    if ((since && !cds_parse_time(since, &t0)) || (until && !cds_parse_time(until, &t1))) {
        fprintf(stderr, "cdsd report: dates are YYYY-MM-DD or RFC3339\n");
        return 2;
    }
    if (strcmp(format, "text") && strcmp(format, "html")) {
        fprintf(stderr, "cdsd report: --format text or html\n");
        return 2;
    }
    char db[1100];
    if (audit) snprintf(db, sizeof db, "%s", audit);
    else snprintf(db, sizeof db, "%s/audit.db", state);
    cds_report r;
    cds_error err;
    if (cds_report_build(db, (int64_t)t0 * 1000, (int64_t)t1 * 1000, &r, &err)) {
        fprintf(stderr, "cdsd report: %s\n", err.message);
        return 1;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        perror(out);
        cds_report_free(&r);
        return 1;
    }
    if (!strcmp(format, "html")) cds_report_html(&r, f);
    else cds_report_text(&r, f);
    if (out) fclose(f);
    cds_report_free(&r);
    return 0;
}
