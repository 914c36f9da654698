/* firing_report.h — the firing-rate alarms of one day as a report section (text, HTML). */
#ifndef CDS_FIRING_REPORT_H
#define CDS_FIRING_REPORT_H

#include <stdio.h>

#include "firing_rate.h"

/* Day `day` of the table checked against the `baseline` days before it. */
typedef struct cds_firing_view {
    const cds_firing_table *table;
    size_t day, baseline;
    double min_expected;
} cds_firing_view;

size_t cds_firing_anomalies(const cds_firing_view *v);
/* The anomalies: service, rule, kind, calls, cards, rate, centre and limits. */
void cds_firing_text(const cds_firing_view *v, FILE *out);
/* A section with a control chart (inline SVG) per service and rule, the anomalies first. */
void cds_firing_html(const cds_firing_view *v, FILE *out);

#endif
