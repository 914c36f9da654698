/* log.c — logfmt lines on stderr, safe to call from any thread (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static cds_log_level current = CDS_LOG_INFO;
static int out_fd = 2;
static const char *const names[] = {"error", "warn", "info", "debug"};

void cds_log_set_level(cds_log_level level) { current = level; }
void cds_log_set_fd(int fd) { out_fd = fd; }

int cds_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* Bytes of the well-formed UTF-8 character at p (n left), or 0. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    size_t l = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    return l && l <= n && cds_utf8_valid(p, l) ? l : 0;
}

static bool bare(const unsigned char *v)
{
    if (!*v) return false;
    for (; *v; v++)
        if (*v <= 0x20 || *v >= 0x7f || *v == '"' || *v == '=' || *v == '\\') return false;
    return true;
}

size_t cds_log_put_field(char *buf, size_t n, size_t cap, const char *key, const char *value)
{
    const unsigned char *v = (const unsigned char *)(value ? value : "");
    size_t klen = strlen(key);
    if (n + klen + 4 >= cap) return n;   /* " k=" and at least "" */
    buf[n++] = ' ';
    memcpy(buf + n, key, klen);
    n += klen;
    buf[n++] = '=';
    if (bare(v)) {
        size_t l = strlen((const char *)v);
        if (l > cap - 1 - n) l = cap - 1 - n;
        memcpy(buf + n, v, l);
        return n + l;
    }
    buf[n++] = '"';
    size_t room = cap - 1 - 1;   /* keep the closing quote */
    size_t len = strlen((const char *)v);
    for (size_t i = 0; i < len;) {
        char esc[8];
        size_t el = 0, take = 1;
        unsigned char ch = v[i];
        if (ch == '"' || ch == '\\') el = (size_t)snprintf(esc, sizeof esc, "\\%c", ch);
        else if (ch == '\n') el = (size_t)snprintf(esc, sizeof esc, "\\n");
        else if (ch == '\r') el = (size_t)snprintf(esc, sizeof esc, "\\r");
        else if (ch == '\t') el = (size_t)snprintf(esc, sizeof esc, "\\t");
        else if (ch < 0x20 || ch == 0x7f) el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
        else if (ch < 0x80) esc[el++] = (char)ch;
        else if ((take = utf8_char(v + i, len - i)) != 0) {
            if (n + take > room) break;
            memcpy(buf + n, v + i, take);
            n += take;
            i += take;
            continue;
        } else {
            take = 1;
            el = (size_t)snprintf(esc, sizeof esc, "\\x%02x", ch);
        }
        if (n + el > room) break;   /* cut before an escape, never inside one */
        memcpy(buf + n, esc, el);
        n += el;
        i += take;
    }
    buf[n++] = '"';
    return n;
}

/* "time=... level=... event=..." */
static size_t head(char *line, cds_log_level level, const char *event)
{
    char ts[48];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t l = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + l, sizeof ts - l, ".%03ldZ", now.tv_nsec / 1000000);
    int n = snprintf(line, CDS_LOG_LINE_MAX, "time=%s level=%s", ts, names[level]);
    return cds_log_put_field(line, (size_t)n, CDS_LOG_LINE_MAX - 1, "event", event);
}

static void msg_and_write(char *line, size_t n, const char *fmt, va_list ap)
{
    if (fmt) {
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        n = cds_log_put_field(line, n, CDS_LOG_LINE_MAX - 1, "msg", msg);
    }
    line[n++] = '\n';
    /* one write per line; a short write to a full pipe is finished, an error dropped */
    for (size_t off = 0; off < n;) {
        ssize_t w = write(out_fd, line + off, n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
}

void cds_log(cds_log_level level, const char *event, const char *fmt, ...)
{
    if (level > current) return;
    char line[CDS_LOG_LINE_MAX];
    size_t n = head(line, level, event);
    va_list ap;
    va_start(ap, fmt);
    msg_and_write(line, n, fmt, ap);
    va_end(ap);
}

static const char *dash(const char *s) { return s && *s ? s : "-"; }

void cds_log_request(cds_log_level level, const char *event, const cds_log_fields *f, const char *fmt, ...)
{
    if (level > current) return;
    char line[CDS_LOG_LINE_MAX], num[32] = "-";
    const size_t cap = CDS_LOG_LINE_MAX - 1;
    size_t n = head(line, level, event);
    n = cds_log_put_field(line, n, cap, "id", dash(f->id));
    n = cds_log_put_field(line, n, cap, "op", dash(f->op));
    n = cds_log_put_field(line, n, cap, "service", dash(f->service));
    n = cds_log_put_field(line, n, cap, "hook", dash(f->hook));
    if (f->status) snprintf(num, sizeof num, "%u", f->status);
    n = cds_log_put_field(line, n, cap, "status", num);
    if (f->outcome && *f->outcome) n = cds_log_put_field(line, n, cap, "outcome", f->outcome);
    if (f->decision && *f->decision) n = cds_log_put_field(line, n, cap, "decision", f->decision);
    if (f->path && *f->path) n = cds_log_put_field(line, n, cap, "path", f->path);
    if (f->duration_ms > 0) {
        snprintf(num, sizeof num, "%.3f", f->duration_ms);
        n = cds_log_put_field(line, n, cap, "duration_ms", num);
    }
    va_list ap;
    va_start(ap, fmt);
    msg_and_write(line, n, fmt, ap);
    va_end(ap);
}
