/* firing_report.c — the firing-rate alarms in the report: the anomalies of the day checked as
 * text, and a control chart per service and rule as inline SVG for the HTML page. */
#include "firing_report.h"

#include <stdbool.h>
#include <time.h>

#include "report_html_esc.h"

/* The table's day i as YYYY-MM-DD. */
static void day_name(const cds_firing_table *t, size_t i, char out[16])
{
    time_t s = (time_t)(t->day0_ms / 1000) + (time_t)i * 86400;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static cds_firing_check check(const cds_firing_view *v, const cds_firing_series *s)
{
    return cds_firing_check_series(v->table, s, v->day, v->baseline, v->min_expected);
}

size_t cds_firing_anomalies(const cds_firing_view *v)
{
    size_t n = 0;
    for (size_t i = 0; i < v->table->n; i++) n += cds_firing_is_anomaly(check(v, &v->table->series[i]).kind) != 0;
    return n;
}

void cds_firing_text(const cds_firing_view *v, FILE *out)
{
    char day[16];
    day_name(v->table, v->day, day);
    fprintf(out, "\nfiring-rate alarms for %s (baseline: the %zu days before; limits p +/- 3 sigma): ", day, v->baseline);
    size_t n = cds_firing_anomalies(v);
    if (!n) {
        fprintf(out, "none\n");
        return;
    }
    fprintf(out, "%zu\n%-24s %-26s %-8s %7s %6s %8s %8s %8s %8s\n", n, "service", "rule", "kind", "calls", "cards", "rate",
            "centre", "lower", "upper");
    for (size_t i = 0; i < v->table->n; i++) {
        const cds_firing_series *s = &v->table->series[i];
        cds_firing_check c = check(v, s);
        if (!cds_firing_is_anomaly(c.kind)) continue;
        fprintf(out, "%-24s %-26s %-8s %7ld %6ld %8.4f %8.4f %8.4f %8.4f\n", s->service, s->rule, cds_firing_kind_name(c.kind),
                c.n, c.x, c.rate, c.p, c.lcl, c.ucl);
    }
}

/* One series' chart: the daily rate as points over the baseline and the day checked, the centre
 * line, and the limits for each day's number of calls (a stepped band). */
static void chart(const cds_firing_view *v, const cds_firing_series *s, FILE *o)
{
    const cds_firing_table *t = v->table;
    size_t from = v->day > v->baseline ? v->day - v->baseline : 0, nd = v->day - from + 1;
    const cds_firing_count *base = s->days + from;
    double top = 0;
    cds_firing_check c[400];
    if (nd > 400) return;
    for (size_t i = 0; i < nd; i++) {
        c[i] = cds_firing_check_day(base, v->day - from, s->days[from + i], v->min_expected);
        if (c[i].rate > top) top = c[i].rate;
        if (c[i].ucl > top) top = c[i].ucl;
    }
    if (top <= 0) top = 1;
    const int W = 640, H = 150, X0 = 50, PW = W - X0 - 10, PH = H - 30;
    double dx = nd > 1 ? (double)PW / (double)(nd - 1) : 0;
#define Y(r) (10 + PH - (double)PH * (r) / top)
    fprintf(o, "<svg role=\"img\" width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" "
               "font-size=\"10\" aria-label=\"",
            W, H);
    cds_html_esc(o, s->rule);
    fputs(" firing rate\">\n", o);
    fprintf(o, "<text x=\"4\" y=\"14\" fill=\"#666\">%.3g</text><text x=\"4\" y=\"%d\" fill=\"#666\">0</text>\n", top, 10 + PH);
    fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", X0, 10 + PH, X0 + PW, 10 + PH);
    /* limits: a polyline each, over the days with calls */
    for (int lim = 0; lim < 2; lim++) {
        fputs("<polyline fill=\"none\" stroke=\"#d1495b\" stroke-dasharray=\"4 3\" points=\"", o);
        for (size_t i = 0; i < nd; i++)
            if (c[i].n > 0 && c[i].kind != CDS_FIRING_NO_BASELINE)
                fprintf(o, "%.1f,%.1f ", X0 + dx * (double)i, Y(lim ? c[i].ucl : c[i].lcl));
        fputs("\"/>\n", o);
    }
    if (c[nd - 1].kind != CDS_FIRING_NO_BASELINE && c[nd - 1].kind != CDS_FIRING_NO_CALLS)
        fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#1b6ca8\"/>\n", X0, Y(c[nd - 1].p), X0 + PW,
                Y(c[nd - 1].p));
    fputs("<polyline fill=\"none\" stroke=\"#222\" points=\"", o);
    for (size_t i = 0; i < nd; i++)
        if (c[i].n > 0) fprintf(o, "%.1f,%.1f ", X0 + dx * (double)i, Y(c[i].rate));
    fputs("\"/>\n", o);
    char day[16];
    for (size_t i = 0; i < nd; i++) {
        if (!c[i].n) continue;
        day_name(t, from + i, day);
        bool last = i == nd - 1, bad = last && cds_firing_is_anomaly(c[i].kind);
        fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>%s: %ld cards / %ld calls = %.4f%s%s</title></circle>\n",
                X0 + dx * (double)i, Y(c[i].rate), last ? 4 : 2, bad ? "#d1495b" : last ? "#1b6ca8" : "#222", day, c[i].x,
                c[i].n, c[i].rate, bad ? ": " : "", bad ? cds_firing_kind_name(c[i].kind) : "");
    }
    day_name(t, from, day);
    fprintf(o, "<text x=\"%d\" y=\"%d\" fill=\"#444\">%s</text>", X0, H - 4, day);
    day_name(t, v->day, day);
    fprintf(o, "<text x=\"%d\" y=\"%d\" fill=\"#444\" text-anchor=\"end\">%s</text>\n</svg>\n", X0 + PW, H - 4, day);
#undef Y
}

void cds_firing_html(const cds_firing_view *v, FILE *o)
{
    char day[16];
    day_name(v->table, v->day, day);
    fprintf(o, "<h2>Firing-rate alarms</h2>\n<p class=\"note\">Each rule's daily firing rate (cards / calls where it ran) on "
               "%s against the %zu days before: centre line p (blue), limits p &plusmn; 3&radic;(p(1&minus;p)/n) for each "
               "day's calls (red, dashed). Flagged: above the upper limit (surge), below the lower (drop), no card where "
               "the baseline expects %.0f or more (stopped).</p>\n",
            day, v->baseline, v->min_expected);
    size_t n = cds_firing_anomalies(v);
    fprintf(o, "<p>%zu anomal%s on %s.</p>\n", n, n == 1 ? "y" : "ies", day);
    for (int pass = 0; pass < 2; pass++)   /* the anomalies first */
        for (size_t i = 0; i < v->table->n; i++) {
            const cds_firing_series *s = &v->table->series[i];
            cds_firing_check c = check(v, s);
            if (cds_firing_is_anomaly(c.kind) != (pass == 0)) continue;
            fputs("<h3>", o);
            cds_html_esc(o, s->rule);
            fputs(" <small>(", o);
            cds_html_esc(o, s->service);
            fprintf(o, ")</small>: %s</h3>\n", cds_firing_kind_name(c.kind));
            chart(v, s, o);
        }
}
