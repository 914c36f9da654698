/* serve_flags.c — the table of `cdsd serve` options (flags and config keys), their parsing and
 * their usage text. A row is all a new option needs: --NAME on the command line, NAME in
 * cdsd.conf, a line in --help. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jwt_verify.h"
#include "log.h"
#include "serve_flags.h"

typedef bool (*apply_fn)(serve_config *c, const char *v, char *err, size_t n);
typedef enum { SF_STR, SF_INT, SF_SIZE, SF_SWITCH, SF_FN } sf_kind;

struct serve_flag {
    const char *name;    /* --name, and the config key */
    const char *arg;     /* metavariable in usage; NULL for a switch */
    sf_kind kind;
    size_t off;          /* SF_STR/INT/SIZE/SWITCH: the field in serve_config */
    long long min, max;  /* SF_INT/SF_SIZE: accepted range */
    bool repeatable;     /* SF_FN only: each value adds to a list */
    apply_fn fn;         /* SF_FN */
    const char *help;    /* usage text; '\n' starts a continuation line */
};

static bool audit_sync(serve_config *c, const char *v, char *err, size_t n)
{
    if (strcmp(v, "full") && strcmp(v, "normal")) return snprintf(err, n, "'%s': expected full or normal", v), false;
    c->o.audit_sync_full = strcmp(v, "full") == 0;
    return true;
}

static bool log_level(serve_config *c, const char *v, char *err, size_t n)
{
    int l = cds_log_parse_level(v);
    if (l < 0) return snprintf(err, n, "unknown log level '%s' (error, warn, info or debug)", v), false;
    c->log_level = l;
    return true;
}

static bool jwt_issuer(serve_config *c, const char *v, char *err, size_t n)
{
    if (!c->o.jwt && !(c->o.jwt = cds_jwt_new())) return snprintf(err, n, "out of memory"), false;
    return cds_jwt_add_issuer(c->o.jwt, v, err, n);
}

static bool jwt_jku(serve_config *c, const char *v, char *err, size_t n)
{
    if (!c->o.jwt && !(c->o.jwt = cds_jwt_new())) return snprintf(err, n, "out of memory"), false;
    if (!cds_jwt_allow_jku(c->o.jwt, v)) return snprintf(err, n, "out of memory"), false;
    return true;
}

/* Repeatable, or comma-separated: every name clients may call the gateway by. Each piece is a
 * copy (serve_config_free frees them). */
static bool public_url(serve_config *c, const char *v, char *err, size_t n)
{
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            if (c->o.npublic_urls == CDS_HTTP_MAX_PUBLIC_URLS)
                return snprintf(err, n, "at most %d public URLs", CDS_HTTP_MAX_PUBLIC_URLS), false;
            char *u = strndup(p, len);
            if (!u) return snprintf(err, n, "out of memory"), false;
            c->o.public_urls[c->o.npublic_urls++] = u;
        }
        p += len + (p[len] == ',');
    }
    return true;
}

#define OFF(field) offsetof(serve_config, o.field)
static const serve_flag flags[] = {
    {"listen", "URL", SF_STR, OFF(listen), 0, 0, false, NULL,
     "NNG URL (default tcp://127.0.0.1:7411; ipc://PATH, tls+tcp://HOST:PORT)"},
    {"rules", "DIR", SF_STR, OFF(rules), 0, 0, false, NULL, "rule set (default ./rules)"},
    {"state", "DIR", SF_STR, OFF(state), 0, 0, false, NULL, "knowledge base, audit log and admin socket (default ./var)"},
    {"workers", "N", SF_INT, OFF(workers), 1, 1024, false, NULL, "evaluation threads (default: one per core)"},
    {"max-request", "BYTES", SF_SIZE, OFF(max_request), 1024, 1ll << 30, false, NULL,
     "largest request accepted (default 4194304)"},
    {"deadline", "MS", SF_INT, OFF(deadline_ms), 1, 600000, false, NULL,
     "per-request deadline; later answers become 'timeout' (default 250)"},
    {"queue", "N", SF_INT, OFF(queue), 1, 1000000, false, NULL,
     "requests waiting for a worker before 'overloaded' (default 64)"},
    {"fixtures", "DIR", SF_STR, OFF(fixtures), 0, 0, false, NULL,
     "fixtures a reload must pass (default ./fixtures when present; 'none': no gate)"},
    {"log-level", "LEVEL", SF_FN, 0, 0, 0, false, log_level, "error, warn, info (default) or debug"},
    {"audit-sync", "MODE", SF_FN, 0, 0, 0, false, audit_sync,
     "normal (default: survives a crash) or full (also survives power loss)"},
    {"audit-requests", NULL, SF_SWITCH, OFF(audit_requests), 0, 0, false, NULL,
     "keep whole requests in the audit log for replay (contains PHI)"},
    {"audit-retain", "DAYS", SF_INT, OFF(audit_retain_days), 1, 36500, false, NULL,
     "archive audit entries older than DAYS days, once a day, while serving (default: never)"},
    {"audit-archive-dir", "DIR", SF_STR, OFF(audit_archive_dir), 0, 0, false, NULL,
     "where --audit-retain puts its archives (default STATE/audit-archive)"},
    {"http", "ADDR:PORT", SF_STR, OFF(http), 0, 0, false, NULL,
     "also serve CDS Hooks over HTTP/JSON (loopback only without --jwt-issuer)"},
    {"http-max-buffered", "BYTES", SF_SIZE, OFF(http_max_buffered), 1024, 1ll << 40, false, NULL,
     "request bodies all HTTP connections together may hold; beyond, 503 with\n"
     "Retry-After (default 67108864; at least --max-request)"},
    {"cors-origin", "LIST", SF_STR, OFF(cors_origins), 0, 0, false, NULL,
     "comma-separated origins allowed to call the HTTP gateway from a browser"},
    {"jwt-issuer", "ISS=JWKS_FILE", SF_FN, 0, 0, 0, true, jwt_issuer,
     "trust JWTs from ISS signed by a key in JWKS_FILE (repeatable)"},
    {"jwt-jku", "URL", SF_FN, 0, 0, 0, true, jwt_jku, "a jku header value to accept (repeatable; keys are never fetched)"},
    {"public-url", "URL", SF_FN, 0, 0, 0, true, public_url,
     "the gateway's URL as clients call it (JWT aud), e.g. https://cds.example.org;\n"
     "repeat it (or separate with commas) for every name clients use"},
    {"tls-cert", "PEM", SF_STR, OFF(tls_cert), 0, 0, false, NULL, "with tls+tcp://: the server's certificate (chain)"},
    {"tls-key", "PEM", SF_STR, OFF(tls_key), 0, 0, false, NULL, "with tls+tcp://: its private key"},
    {"tls-ca", "PEM", SF_STR, OFF(tls_ca), 0, 0, false, NULL, "with tls+tcp://: require client certificates signed by this CA"},
    {"fetch-timeout", "MS", SF_INT, OFF(fetch.timeout_ms), 1, 600000, false, NULL,
     "cap on fetching absent prefetch from the client's FHIR server (default 2000;\n"
     "always inside --deadline)"},
    {"fetch-pages", "N", SF_INT, OFF(fetch.max_pages), 1, 1000, false, NULL,
     "searchset pages followed per prefetch key (default 10)"},
    {"fetch-max-calls", "N", SF_INT, OFF(fetch.max_calls), 1, 100000, false, NULL,
     "calls fetching prefetch at once, on the fetch thread (no worker held; default\n"
     "64); beyond, a call is answered as when its prefetch cannot be had"},
    {"summary-interval", "S", SF_INT, OFF(summary_s), 0, 86400, false, NULL,
     "seconds between 'summary' log lines (default 60; 0: none)"},
    {"metrics", "ADDR:PORT", SF_STR, OFF(metrics), 0, 0, false, NULL,
     "also serve /metrics, /health/live and /health/ready there, to any client\n"
     "(the --http gateway serves /metrics to loopback clients only)"},
    {"drain-ms", "MS", SF_INT, OFF(drain_ms), 0, 600000, false, NULL,
     "at SIGTERM, answer /health/ready with 503 this long before draining, so a load\n"
     "balancer stops sending first (default 0; keep it below the unit's TimeoutStopSec)"},
    {"shadow", "DIR", SF_STR, OFF(shadow), 0, 0, false, NULL,
     "candidate rule set evaluated on every call after its reply, audited as shadow,\n"
     "never shown (reloaded with the live set; 'cdsd report --shadow' compares them)"},
    {"shadow-queue", "N", SF_INT, OFF(shadow_queue), 1, 1000000, false, NULL,
     "calls waiting for the shadow evaluation before new ones are dropped (default 256)"},
};
#undef OFF
#define NFLAGS (sizeof flags / sizeof flags[0])

void serve_config_defaults(serve_config *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (serve_config){
        .o = {.listen = "tcp://127.0.0.1:7411", .rules = CLI_DEFAULT_RULES, .state = "var", .fixtures = "fixtures",
              .workers = ncpu > 0 ? (int)ncpu : 2, .max_request = 4u << 20,
              .http_max_buffered = CDS_HTTP_DEFAULT_MAX_BUFFERED, .deadline_ms = 250, .queue = 64,
              .summary_s = 60, .shadow_queue = 256,
              .fetch = {.timeout_ms = 2000, .max_pages = 10, .max_bytes = 4u << 20, .max_calls = 64}},
        .log_level = CDS_LOG_INFO};
}

const serve_flag *serve_flag_find(const char *name)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strcmp(flags[i].name, name) == 0) return &flags[i];
    return NULL;
}

size_t serve_flag_count(void) { return NFLAGS; }
const serve_flag *serve_flag_at(size_t i) { return i < NFLAGS ? &flags[i] : NULL; }
const char *serve_flag_name(const serve_flag *f) { return f->name; }
bool serve_flag_takes_value(const serve_flag *f) { return f->arg != NULL; }
bool serve_flag_repeatable(const serve_flag *f) { return f->repeatable; }

/* A whole number in [min, max]: no sign games, no trailing text, no overflow. */
static bool number(const serve_flag *f, const char *v, long long *out, char *err, size_t n)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < f->min || x > f->max)
        return snprintf(err, n, "'%s': expected a whole number from %lld to %lld", v, f->min, f->max), false;
    *out = x;
    return true;
}

static bool boolean(const char *v, bool *out)
{
    static const char *const yes[] = {"", "true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcmp(v, yes[i]) == 0) return *out = true, true;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcmp(v, no[i]) == 0) return *out = false, true;
    return false;
}

bool serve_flag_apply(const serve_flag *f, serve_config *c, const char *value, char *err, size_t errlen)
{
    char *field = (char *)c + f->off;
    long long x;
    switch (f->kind) {
    case SF_STR:
        if (!*value) return snprintf(err, errlen, "a value is needed"), false;
        *(const char **)field = value;
        return true;
    case SF_INT:
        if (!number(f, value, &x, err, errlen)) return false;
        *(int *)field = (int)x;
        return true;
    case SF_SIZE:
        if (!number(f, value, &x, err, errlen)) return false;
        *(size_t *)field = (size_t)x;
        return true;
    case SF_SWITCH:
        if (!value) return *(bool *)field = true, true;
        if (!boolean(value, (bool *)field))
            return snprintf(err, errlen, "'%s': expected true or false (or the key alone)", value), false;
        return true;
    case SF_FN:
        if (!*value) return snprintf(err, errlen, "a value is needed"), false;
        return f->fn(c, value, err, errlen);
    }
    return false;
}

bool serve_config_apply_file(serve_config *c, cds_config_file *file, const bool *given_on_cli, char *err,
                             size_t errlen)
{
    int first_line[NFLAGS] = {0};
    for (size_t i = 0; i < file->n; i++) {
        const cds_config_entry *e = &file->entries[i];
        const serve_flag *f = serve_flag_find(e->key);
        if (!f) {
            const char *hint = strcmp(e->key, "config") == 0 ? " (a config file cannot name another)" : "";
            return snprintf(err, errlen, "%s:%d: unknown key '%s'%s", file->path, e->line, e->key, hint), false;
        }
        size_t k = (size_t)(f - flags);
        if (first_line[k] && !f->repeatable)
            return snprintf(err, errlen, "%s:%d: %s: set twice (first at line %d); it takes one value", file->path,
                            e->line, e->key, first_line[k]),
                   false;
        if (!first_line[k]) first_line[k] = e->line;
        if (given_on_cli && given_on_cli[k]) continue;
        char why[400];
        if (!serve_flag_apply(f, c, e->value, why, sizeof why))
            return snprintf(err, errlen, "%s:%d: %s: %s", file->path, e->line, e->key, why), false;
    }
    return true;
}

bool serve_config_check(const serve_config *c, char *err, size_t errlen)
{
    if (!c->o.tls_cert != !c->o.tls_key) return snprintf(err, errlen, "tls-cert and tls-key go together"), false;
    if (c->o.http_max_buffered < c->o.max_request)
        return snprintf(err, errlen, "http-max-buffered must be at least max-request (%zu)", c->o.max_request), false;
    struct stat st;
    if (stat(c->o.rules, &st) != 0 || !S_ISDIR(st.st_mode))
        return snprintf(err, errlen, "rules: %s is not a directory", c->o.rules), false;
    return true;
}

void serve_config_free(serve_config *c)
{
    cds_jwt_free(c->o.jwt);
    c->o.jwt = NULL;
    for (size_t i = 0; i < c->o.npublic_urls; i++) free((char *)c->o.public_urls[i]);
    c->o.npublic_urls = 0;
}

void serve_flags_usage(FILE *f)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
        fprintf(f, "  %-20s", left);
        if (strlen(left) > 20) fprintf(f, "\n  %-20s", "");
        for (const char *h = flags[i].help; *h;) {
            size_t len = strcspn(h, "\n");
            fprintf(f, " %.*s\n", (int)len, h);
            h += len;
            if (*h == '\n' && *++h) fprintf(f, "  %-20s", "");
        }
    }
}
