/* fixture_update.c — rewrites the "expect" span of a fixture file in place, formatting kept. */
#include "fixture_update.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_lines.h"
#include "strbuf.h"

/* The whitespace that starts the line holding offset off, if only whitespace precedes off. */
static bool line_indent(const char *text, size_t off, char *out, size_t n)
{
    size_t b = off;
    while (b > 0 && text[b - 1] != '\n') b--;
    for (size_t i = b; i < off; i++)
        if (text[i] != ' ' && text[i] != '\t') return false;
    size_t l = off - b < n - 1 ? off - b : n - 1;
    memcpy(out, text + b, l);
    out[l] = '\0';
    return true;
}

/* {"rule": ..., "indicator": ..., "summary": "<the summary as a literal regular expression>"} */
static void card_entry(cds_strbuf *b, const cds_fixture_card *c)
{
    const char *s = c->summary ? c->summary : "";
    cds_strbuf re;
    cds_strbuf_init(&re);
    for (; *s; s++) {
        if (strchr(".[]()*+?{}|^$\\", *s)) cds_strbuf_putc(&re, '\\');
        cds_strbuf_putc(&re, *s);
    }
    cds_strbuf_puts(b, "{\"rule\": ");
    cds_strbuf_json_string(b, c->rule ? c->rule : "", strlen(c->rule ? c->rule : ""));
    cds_strbuf_puts(b, ", \"indicator\": ");
    cds_strbuf_json_string(b, c->indicator ? c->indicator : "", strlen(c->indicator ? c->indicator : ""));
    cds_strbuf_puts(b, ", \"summary\": ");
    cds_strbuf_json_string(b, re.data ? re.data : "", re.len);
    cds_strbuf_putc(b, '}');
    cds_strbuf_free(&re);
}

bool cds_fixture_update(const char *file, const cds_fixture_card *cards, size_t ncards, const int *claimed,
                        size_t nexpect, FILE *out)
{
    cds_error err;
    size_t len;
    char *text = cds_read_file(file, &len, 64u << 20, &err);
    cds_json_lines jl;
    if (!text || !cds_json_lines_scan(text, len, &jl)) {
        if (text) cds_json_lines_free(&jl);
        free(text);
        return false;
    }
    size_t kept = 0, added = 0, removed = 0;
    for (size_t k = 0; k < nexpect; k++) {
        if (claimed[k] >= 0) kept++;
        else removed++;
    }
    cds_strbuf changes;   /* "+ entry" and "- entry" lines, shown after the summary */
    cds_strbuf_init(&changes);
    for (size_t i = 0; i < ncards; i++) {
        bool any = false;
        for (size_t k = 0; k < nexpect; k++) any |= claimed[k] == (int)i;
        added += !any;
    }
    bool ok = true;
    if (added || removed) {
        const cds_json_pos *ex = cds_json_lines_find(&jl, "expect"), *last = NULL;
        char key_indent[64] = " ", elem_indent[128];   /* room for two key indents */
        for (size_t i = 0; i < jl.n; i++) {   /* the last top-level member, and its indentation */
            const char *p = jl.pos[i].path;
            if (!*p || strchr(p, '.') || strchr(p, '[')) continue;
            if (!last || jl.pos[i].end > last->end) last = &jl.pos[i];
            line_indent(text, jl.pos[i].key_start, key_indent, sizeof key_indent);
        }
        if (ex) line_indent(text, ex->key_start, key_indent, sizeof key_indent);
        const cds_json_pos *first = cds_json_lines_find(&jl, "expect[0]");
        if (!first || !line_indent(text, first->start, elem_indent, sizeof elem_indent))
            snprintf(elem_indent, sizeof elem_indent, "%s%s", key_indent, *key_indent ? key_indent : "  ");
        cds_strbuf arr;
        cds_strbuf_init(&arr);
        cds_strbuf_puts(&arr, ncards ? "[\n" : "[]");
        for (size_t i = 0; i < ncards; i++) {
            bool any = false;
            for (size_t k = 0; k < nexpect; k++) {
                if (claimed[k] != (int)i) continue;
                char p[32];
                snprintf(p, sizeof p, "expect[%zu]", k);
                const cds_json_pos *e = cds_json_lines_find(&jl, p);
                if (!e) { ok = false; continue; }
                cds_strbuf_printf(&arr, "%s%s", arr.len > 2 ? ",\n" : "", elem_indent);
                cds_strbuf_append(&arr, text + e->start, e->end - e->start);
                any = true;
            }
            if (any) continue;
            cds_strbuf_printf(&arr, "%s%s", arr.len > 2 ? ",\n" : "", elem_indent);
            size_t at = arr.len;
            card_entry(&arr, &cards[i]);
            cds_strbuf_printf(&changes, "    + %s\n", arr.data + at);
        }
        if (ncards) cds_strbuf_printf(&arr, "\n%s]", key_indent);
        for (size_t k = 0; k < nexpect; k++) {
            char p[32];
            snprintf(p, sizeof p, "expect[%zu]", k);
            const cds_json_pos *e = cds_json_lines_find(&jl, p);
            if (claimed[k] >= 0 || !e) continue;
            cJSON *j = cJSON_ParseWithLength(text + e->start, e->end - e->start);
            char *one = j ? cJSON_PrintUnformatted(j) : NULL;
            cds_strbuf_printf(&changes, "    - %s\n", one ? one : "?");
            free(one);
            cJSON_Delete(j);
        }
        cds_strbuf doc;
        cds_strbuf_init(&doc);
        if (ex) {   /* replace the list's span */
            cds_strbuf_append(&doc, text, ex->start);
            cds_strbuf_append(&doc, arr.data, arr.len);
            cds_strbuf_append(&doc, text + ex->end, len - ex->end);
        } else if (last) {   /* a new member after the last one */
            cds_strbuf_append(&doc, text, last->end);
            cds_strbuf_printf(&doc, ",\n%s\"expect\": ", key_indent);
            cds_strbuf_append(&doc, arr.data, arr.len);
            cds_strbuf_append(&doc, text + last->end, len - last->end);
        } else {
            ok = false;
        }
        if (ok && !doc.oom && !arr.oom) {   /* written beside the file, then renamed over it */
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.update-tmp", file);
            FILE *f = fopen(tmp, "w");
            ok = f && fwrite(doc.data, 1, doc.len, f) == doc.len;
            if (f && fclose(f) != 0) ok = false;
            if (ok) ok = rename(tmp, file) == 0;
            if (!ok) remove(tmp);
        } else {
            ok = false;
        }
        cds_strbuf_free(&doc);
        cds_strbuf_free(&arr);
    }
    if (ok)
        fprintf(out, "UPDATED %s: %zu kept, %zu added, %zu removed%s\n%s", file, kept, added, removed,
                added || removed ? "" : " (unchanged)", changes.data ? changes.data : "");
    cds_strbuf_free(&changes);
    cds_json_lines_free(&jl);
    free(text);
    return ok;
}
