/* report_html.c — the report as one self-contained HTML page with inline SVG charts (no
 * scripts, no external resources), for a pharmacy committee to read in a browser. */
#include <string.h>

#include "firing_report.h"
#include "report.h"
#include "report_html_esc.h"

static const char *COLOURS[] = {"#1b6ca8", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#30638e", "#8f2d56", "#58a4b0"};

/* Horizontal bars: override rate per rule (rules without feedback shown as "no feedback"). */
static void override_chart(const cds_report *r, FILE *o)
{
    int h = 30 + 26 * (int)r->nrules;
    fprintf(o, "<svg role=\"img\" aria-label=\"Override rate per rule\" width=\"720\" height=\"%d\" "
               "xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"12\">\n", h);
    fprintf(o, "<line x1=\"240\" y1=\"10\" x2=\"240\" y2=\"%d\" stroke=\"#444\"/>\n", h - 10);
    for (int t = 0; t <= 100; t += 25)
        fprintf(o, "<text x=\"%d\" y=\"%d\" fill=\"#666\" text-anchor=\"middle\">%d%%</text>\n", 240 + t * 4, h - 2, t);
    for (size_t i = 0; i < r->nrules; i++) {
        const cds_rule_stats *s = &r->rules[i];
        int y = 16 + 26 * (int)i;
        long fb = s->accepted + s->overridden;
        fprintf(o, "<text x=\"232\" y=\"%d\" text-anchor=\"end\">", y + 13);
        cds_html_esc(o, s->rule);
        fputs("</text>\n", o);
        if (!fb) {
            fprintf(o, "<text x=\"248\" y=\"%d\" fill=\"#888\">no feedback yet</text>\n", y + 13);
            continue;
        }
        double rate = (double)s->overridden / (double)fb;
        fprintf(o, "<rect x=\"241\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>\n", y, rate * 400.0,
                rate > 0.8 ? "#d1495b" : "#1b6ca8");
        fprintf(o, "<text x=\"%.1f\" y=\"%d\">%.0f%% of %ld</text>\n", 246 + rate * 400.0, y + 13, rate * 100, fb);
    }
    fputs("</svg>\n", o);
}

/* Cards per rule per day: one coloured bar per rule within each day. */
static void cards_chart(const cds_report *r, FILE *o)
{
    char days[64][11];
    size_t nd = 0;
    long max = 1;
    for (size_t i = 0; i < r->ndays; i++) {
        if (r->days[i].cards > max) max = r->days[i].cards;
        if (nd == 0 || strcmp(days[nd - 1], r->days[i].day) != 0) {
            if (nd == 64) break;
            snprintf(days[nd++], sizeof days[0], "%s", r->days[i].day);
        }
    }
    size_t nr = r->nrules ? r->nrules : 1;
    int group = (int)(nr * 14 + 16), width = 80 + (int)nd * group;
    if (width < 400) width = 400;
    fprintf(o, "<svg role=\"img\" aria-label=\"Cards per rule per day\" width=\"%d\" height=\"260\" "
               "xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"11\">\n", width);
    fputs("<line x1=\"60\" y1=\"210\" x2=\"100%\" y2=\"210\" stroke=\"#444\"/>\n", o);
    fprintf(o, "<text x=\"4\" y=\"20\" fill=\"#666\">%ld</text><text x=\"4\" y=\"210\" fill=\"#666\">0</text>\n", max);
    for (size_t d = 0; d < nd; d++) {
        int x0 = 70 + (int)d * group;
        fprintf(o, "<text x=\"%d\" y=\"228\" fill=\"#444\">%s</text>\n", x0, days[d] + 5);
        for (size_t i = 0; i < r->ndays; i++) {
            if (strcmp(r->days[i].day, days[d]) != 0) continue;
            size_t k = 0;
            for (; k < r->nrules && strcmp(r->rules[k].rule, r->days[i].rule) != 0; k++) {}
            double hgt = 190.0 * (double)r->days[i].cards / (double)max;
            fprintf(o, "<rect x=\"%d\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"%s\"><title>", x0 + (int)k * 14,
                    210 - hgt, hgt, COLOURS[k % 8]);
            cds_html_esc(o, r->days[i].rule);
            fprintf(o, ": %ld cards on %s</title></rect>\n", r->days[i].cards, r->days[i].day);
        }
    }
    for (size_t k = 0; k < r->nrules; k++) {
        fprintf(o, "<rect x=\"%d\" y=\"242\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"251\">",
                70 + (int)k * 170, COLOURS[k % 8], 84 + (int)k * 170);
        cds_html_esc(o, r->rules[k].rule);
        fputs("</text>\n", o);
    }
    fputs("</svg>\n", o);
}

void cds_report_html(const cds_report *r, FILE *o)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cdsd alert report</title>\n"
          "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
          "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
          "th{background:#f0f0f0}h2{margin-top:1.6em}.note{color:#555;font-size:90%}</style></head><body>\n", o);
    fprintf(o, "<h1>cdsd alert report</h1>\n<p>%ld decisions", r->decisions);
    if (r->since[0]) {
        fputs(" from ", o);
        cds_html_esc(o, r->since);
        fputs(" to ", o);
        cds_html_esc(o, r->until);
    }
    fputs(".</p>\n<h2>Override rate per rule</h2>\n", o);
    override_chart(r, o);
    fputs("<p class=\"note\">Override rate = overridden / (accepted + overridden), from CDS Hooks feedback.</p>\n", o);
    fputs("<h2>Cards per rule over time</h2>\n", o);
    cards_chart(r, o);
    fputs("<h2>Rules</h2>\n<table><tr><th>rule</th><th>runs</th><th>fired</th><th>errors</th><th>info</th>"
          "<th>warning</th><th>critical</th><th>accepted</th><th>overridden</th><th>no feedback</th>"
          "<th>p50 µs</th><th>p99 µs</th><th>top override reasons</th><th>why this card (latest example)</th></tr>\n", o);
    for (size_t i = 0; i < r->nrules; i++) {
        const cds_rule_stats *s = &r->rules[i];
        fputs("<tr><td>", o);
        cds_html_esc(o, s->rule);
        fprintf(o, "</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td><td>%ld</td>"
                   "<td>%ld</td><td>%.0f</td><td>%.0f</td><td style=\"text-align:left\">",
                s->runs, s->fired, s->errors, s->info, s->warning, s->critical, s->accepted, s->overridden, s->no_feedback,
                s->p50_us, s->p99_us);
        for (int k = 0; k < 3 && s->reason_counts[k]; k++) {
            if (k) fputs("; ", o);
            cds_html_esc(o, s->reasons[k]);
            fprintf(o, " (%ld)", s->reason_counts[k]);
        }
        fputs("</td><td style=\"text-align:left\">", o);
        if (s->example[0]) {
            fputs("<code>cdsd explain ", o);
            cds_html_esc(o, s->example);
            fputs("</code>", o);
        }
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n<p class=\"note\">Why a card appeared: <code>cdsd explain DECISION_ID --state DIR</code> prints "
          "each card of a decision with the resources and codes that matched, the knowledge rows and the computed values "
          "(README \"Why this card\").</p>\n<h2>Services</h2>\n<table><tr><th>service</th><th>requests</th><th>errors</th><th>by code</th></tr>\n", o);
    for (size_t i = 0; i < r->nservices; i++) {
        fputs("<tr><td>", o);
        cds_html_esc(o, r->services[i].service);
        fprintf(o, "</td><td>%ld</td><td>%ld</td><td style=\"text-align:left\">", r->services[i].requests, r->services[i].errors);
        cds_html_esc(o, r->services[i].by_code);
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
    if (r->firing) cds_firing_html(r->firing, o);
    fputs("</body></html>\n", o);
}
