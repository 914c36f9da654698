/* cli_report.c — `cdsd report [--state DIR | --audit FILE]... [--since DATE] [--until DATE] [--format text|html]
 * [--out FILE] [--day DATE] [--baseline-days N]`: the live log, or an archive or first-layout log
 * given by --audit; several (e.g. one per replica, both flags repeated and mixed) are merged into
 * one report. The firing-rate alarms check --day (default today, UTC) against the N days before
 * it, read from each state directory's history (archives included) and each --audit file.
 * With --shadow, the candidate rule set of `cdsd serve --shadow` against the live one instead
 * (text). */
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "firing_report.h"
#include "report.h"
#include "shadow_report.h"
#include "view.h"

/* --shadow: live against candidate (text only). */
static int report_shadow(const char *const *dbs, size_t ndbs, time_t t0, time_t t1, const char *format, const char *out)
{
    if (strcmp(format, "text")) {
        fprintf(stderr, "cdsd report: --shadow is text only\n");
        return 2;
    }
    cds_shadow_report r;
    cds_error err;
    if (cds_shadow_report_build(dbs, ndbs, (int64_t)t0 * 1000, (int64_t)t1 * 1000, &r, &err)) {
        fprintf(stderr, "cdsd report: %s\n", err.message);
        return 1;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        perror(out);
        cds_shadow_report_free(&r);
        return 1;
    }
    cds_shadow_report_text(&r, f);
    if (out) fclose(f);
    cds_shadow_report_free(&r);
    return 0;
}

int cli_report(int argc, char **argv)
{
    const char *since = NULL, *until = NULL, *format = "text", *out = NULL;
    bool shadow = false;
    const char *alarm_day = NULL;
    long baseline = CDS_FIRING_BASELINE_DAYS;
    char **dbs = calloc((size_t)argc + 1, sizeof *dbs);   /* at most one per argument */
    const char **states = calloc((size_t)argc + 1, sizeof *states), **audits = calloc((size_t)argc + 1, sizeof *audits);
    size_t ndbs = 0, nstates = 0, naudits = 0;
    int status = 2;
    if (!dbs || !states || !audits) {
        free(dbs);
        free(states);
        free(audits);
        fprintf(stderr, "cdsd report: out of memory\n");
        return 1;
    }
    static const struct option opts[] = {{"state", 1, 0, 's'}, {"since", 1, 0, 'f'}, {"until", 1, 0, 'u'},
                                         {"format", 1, 0, 'F'}, {"out", 1, 0, 'o'}, {"audit", 1, 0, 'a'}, {"help", 0, 0, 'h'},
                                         {"shadow", 0, 0, 'S'}, {"day", 1, 0, 'd'}, {"baseline-days", 1, 0, 'b'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (asprintf(&dbs[ndbs], "%s/audit.db", optarg) < 0) goto done;
            ndbs++;
            states[nstates++] = optarg;
            break;
        case 'd': alarm_day = optarg; break;
        case 'b': {
            char *end;
            baseline = strtol(optarg, &end, 10);
            if (*end || baseline < 1 || baseline > 365) {
                fprintf(stderr, "cdsd report: --baseline-days is 1 to 365 days\n");
                goto done;
            }
            break;
        }
        case 'f': since = optarg; break;
        case 'u': until = optarg; break;
        case 'F': format = optarg; break;
        case 'o': out = optarg; break;
        case 'S': shadow = true; break;
        case 'a':
            if (!(dbs[ndbs] = strdup(optarg))) goto done;
            ndbs++;
            audits[naudits++] = optarg;
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr, "usage: cdsd report [--state DIR | --audit FILE]... [--since DATE] [--until DATE] "
                                                "[--format text|html] [--out FILE] [--day DATE] [--baseline-days N] [--shadow]\n");
            status = c == 'h' ? 0 : 2;
            goto done;
        }
    }
    time_t t0 = 0, t1 = (time_t)1 << 40, td = time(NULL);
    if ((since && !cds_parse_time(since, &t0)) || (until && !cds_parse_time(until, &t1)) ||
        (alarm_day && !cds_parse_time(alarm_day, &td))) {
        fprintf(stderr, "cdsd report: dates are YYYY-MM-DD or RFC3339\n");
        goto done;
    }
    if (strcmp(format, "text") && strcmp(format, "html")) {
        fprintf(stderr, "cdsd report: --format text or html\n");
        goto done;
    }
    if (!ndbs && !(dbs[ndbs++] = strdup("var/audit.db"))) goto done;
    if (shadow) {
        status = report_shadow((const char *const *)dbs, ndbs, t0, t1, format, out);
        goto done;
    }
    if (!nstates && !naudits) states[nstates++] = "var";
    cds_report r;
    cds_error err;
    status = 1;
    /* the alarms' days: the baseline and the day checked, whole UTC days */
    cds_firing_table ft = {.day0_ms = ((int64_t)td / 86400 - baseline) * 86400000LL, .ndays = (size_t)baseline + 1};
    cds_firing_view fv = {.table = &ft, .day = (size_t)baseline, .baseline = (size_t)baseline,
                          .min_expected = CDS_FIRING_MIN_EXPECTED};
    for (size_t i = 0; i < nstates; i++)
        if (cds_firing_read_state(states[i], &ft, false, &err)) {
            fprintf(stderr, "cdsd report: %s\n", err.message);
            cds_firing_table_free(&ft);
            goto done;
        }
    if (cds_firing_read(audits, naudits, &ft, &err) ||
        cds_report_build_many((const char *const *)dbs, ndbs, (int64_t)t0 * 1000, (int64_t)t1 * 1000, &r, &err)) {
        fprintf(stderr, "cdsd report: %s\n", err.message);
        cds_firing_table_free(&ft);
        goto done;
    }
    r.firing = &fv;
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        perror(out);
        cds_report_free(&r);
        cds_firing_table_free(&ft);
        goto done;
    }
    if (!strcmp(format, "html")) cds_report_html(&r, f);
    else {
        cds_report_text(&r, f);
        cds_firing_text(&fv, f);
    }
    if (out) fclose(f);
    cds_report_free(&r);
    cds_firing_table_free(&ft);
    status = 0;
done:
    for (size_t i = 0; i < ndbs; i++) free(dbs[i]);
    free(dbs);
    free(states);
    free(audits);
    return status;
}
