/* report_html_esc.h — text into HTML (element content and attribute values). */
#ifndef CDS_REPORT_HTML_ESC_H
#define CDS_REPORT_HTML_ESC_H

#include <stdio.h>

void cds_html_esc(FILE *o, const char *s);

#endif
