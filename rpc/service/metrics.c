/* metrics.c — counters and their Prometheus text rendering (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "generation.h"
#include "kb.h"

/* A label value table: open addressing, slots never removed. Slot 0 is "other". A reader
 * probes from the name's hash until it finds the name or an empty slot; a slot being filled
 * (state 1) is skipped, which only happens while a generation that is not yet served loads. */
#define NAME_MAX_LEN 96
typedef struct name_slot {
    _Atomic int state;   /* 0 empty, 1 being filled, 2 ready */
    char name[NAME_MAX_LEN];
} name_slot;

#define SERVICES 64      /* powers of two */
#define RULES 1024
#define INDICATORS 4     /* info, warning, critical, anything else */
static const char *const indicator_names[INDICATORS] = {"info", "warning", "critical", "other"};

/* Latency buckets (seconds): the deadline is 250 ms by default. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

typedef struct service_counters {
    atomic_ulong outcome[CDS_RC_COUNT];
    atomic_ulong bucket[NBOUNDS];        /* not cumulative: the rendering adds them up */
    atomic_ulong count, micros;
} service_counters;

typedef struct rule_counters {
    atomic_ulong cards[INDICATORS];
    atomic_ulong errors, suppressed;
} rule_counters;

static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;
static name_slot service_names[SERVICES], rule_names[RULES];
static service_counters services[SERVICES];
static rule_counters rules[RULES];
#define OPS 4
static const char *const op_names[OPS] = {"discover", "feedback", "health", "other"};
static atomic_ulong ops[OPS][CDS_RC_COUNT];
static atomic_ulong reloads_ok, reloads_failed;
#define HTTP_CODES 600
static atomic_ulong http_responses[HTTP_CODES];
static atomic_long fetch_inflight;
static atomic_ulong fetch_refused;

static size_t hash(const char *s)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding name, or 0 ("other"). Lock-free. */
static size_t find(name_slot *t, size_t n, const char *name)
{
    if (!name || !*name || strlen(name) >= NAME_MAX_LEN) return 0;
    size_t h = hash(name);
    for (size_t i = 0; i < n - 1; i++) {
        size_t k = 1 + (h + i) % (n - 1);
        int st = atomic_load_explicit(&t[k].state, memory_order_acquire);
        if (st == 0) return 0;
        if (st == 2 && strcmp(t[k].name, name) == 0) return k;
    }
    return 0;
}

/* Under register_lock. A full table leaves the name counted as "other". */
static void add(name_slot *t, size_t n, const char *name)
{
    if (find(t, n, name) || !name || !*name || strlen(name) >= NAME_MAX_LEN) return;
    size_t h = hash(name);
    for (size_t i = 0; i < n - 1; i++) {
        size_t k = 1 + (h + i) % (n - 1);
        if (atomic_load_explicit(&t[k].state, memory_order_relaxed) != 0) continue;
        atomic_store_explicit(&t[k].state, 1, memory_order_relaxed);
        memcpy(t[k].name, name, strlen(name) + 1);
        atomic_store_explicit(&t[k].state, 2, memory_order_release);
        return;
    }
}

void cds_metrics_register_ruleset(const cds_ruleset *rs)
{
    pthread_mutex_lock(&register_lock);
    for (size_t i = 0; i < rs->nservices; i++) add(service_names, SERVICES, rs->services[i].id);
    for (size_t i = 0; i < rs->nrules; i++) add(rule_names, RULES, rs->rules[i].id);
    /* the engine's own cards (prefetch.KEY did-not-run cards) carry these rule names */
    for (size_t i = 0; i < rs->nservices; i++)
        for (size_t k = 0; k < rs->services[i].nprefetch; k++) {
            char name[NAME_MAX_LEN];
            snprintf(name, sizeof name, "prefetch.%s", rs->services[i].prefetch_keys[k]);
            add(rule_names, RULES, name);
        }
    pthread_mutex_unlock(&register_lock);
}

#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)

void cds_metrics_call(const char *service, cds_rc code, double seconds)
{
    service_counters *c = &services[find(service_names, SERVICES, service)];
    INC(c->outcome[code < CDS_RC_COUNT ? code : CDS_EINTERNAL]);
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b]) b++;
    if (b < NBOUNDS) INC(c->bucket[b]);
    INC(c->count);
    atomic_fetch_add_explicit(&c->micros, (unsigned long)(seconds * 1e6 + 0.5), memory_order_relaxed);
}

void cds_metrics_op(const char *op, cds_rc code)
{
    size_t i = 0;
    while (i < OPS - 1 && (!op || strcmp(op, op_names[i]))) i++;
    INC(ops[i][code < CDS_RC_COUNT ? code : CDS_EINTERNAL]);
}

void cds_metrics_card(const char *rule, const char *indicator)
{
    size_t i = 0;
    while (i < INDICATORS - 1 && (!indicator || strcmp(indicator, indicator_names[i]))) i++;
    INC(rules[find(rule_names, RULES, rule)].cards[i]);
}

void cds_metrics_rule_error(const char *rule) { INC(rules[find(rule_names, RULES, rule)].errors); }
void cds_metrics_card_suppressed(const char *rule) { INC(rules[find(rule_names, RULES, rule)].suppressed); }
void cds_metrics_reload(bool ok) { INC(*(ok ? &reloads_ok : &reloads_failed)); }

void cds_metrics_http_response(unsigned status)
{
    if (status < HTTP_CODES) INC(http_responses[status]);
}

void cds_metrics_fetch_inflight(int delta) { atomic_fetch_add_explicit(&fetch_inflight, delta, memory_order_relaxed); }
void cds_metrics_fetch_refused(void) { INC(fetch_refused); }

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* A label value: backslash, double quote and newline escaped (0.0.4). */
static void label(cds_strbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') cds_strbuf_putc(b, '\\');
        if (*v == '\n') cds_strbuf_puts(b, "\\n");
        else cds_strbuf_putc(b, *v);
    }
}

static const char *slot_name(const name_slot *t, size_t k)
{
    return k == 0 ? "other" : atomic_load_explicit(&t[k].state, memory_order_acquire) == 2 ? t[k].name : NULL;
}

static void help(cds_strbuf *b, const char *name, const char *type, const char *text)
{
    cds_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void render_calls(cds_strbuf *b)
{
    help(b, "cdsd_calls_total", "counter", "CDS service calls answered, by service and outcome (ok or the error code).");
    for (size_t k = 0; k < SERVICES; k++) {
        const char *name = slot_name(service_names, k);
        if (!name) continue;
        for (int rc = 0; rc < CDS_RC_COUNT; rc++) {
            unsigned long v = LOAD(services[k].outcome[rc]);
            if (!v && rc != CDS_OK) continue;
            cds_strbuf_puts(b, "cdsd_calls_total{service=\"");
            label(b, name);
            cds_strbuf_printf(b, "\",outcome=\"%s\"} %lu\n", rc == CDS_OK ? "ok" : cds_rc_name((cds_rc)rc), v);
        }
    }
    help(b, "cdsd_call_duration_seconds", "histogram",
         "Time from receiving a call to its reply being ready (the audit commit is cdsd_audit_commit_seconds).");
    for (size_t k = 0; k < SERVICES; k++) {
        const char *name = slot_name(service_names, k);
        if (!name) continue;
        unsigned long cum = 0;
        for (size_t i = 0; i <= NBOUNDS; i++) {
            cds_strbuf_puts(b, "cdsd_call_duration_seconds_bucket{service=\"");
            label(b, name);
            if (i < NBOUNDS) {
                cum += LOAD(services[k].bucket[i]);
                cds_strbuf_printf(b, "\",le=\"%g\"} %lu\n", bounds[i], cum);
            } else {
                cds_strbuf_printf(b, "\",le=\"+Inf\"} %lu\n", LOAD(services[k].count));
            }
        }
        cds_strbuf_puts(b, "cdsd_call_duration_seconds_sum{service=\"");
        label(b, name);
        cds_strbuf_printf(b, "\"} %.6f\n", (double)LOAD(services[k].micros) / 1e6);
        cds_strbuf_puts(b, "cdsd_call_duration_seconds_count{service=\"");
        label(b, name);
        cds_strbuf_printf(b, "\"} %lu\n", LOAD(services[k].count));
    }
    help(b, "cdsd_requests_total", "counter", "Requests other than calls (discover, feedback, health), by op and outcome.");
    for (size_t i = 0; i < OPS; i++)
        for (int rc = 0; rc < CDS_RC_COUNT; rc++) {
            unsigned long v = LOAD(ops[i][rc]);
            if (v || rc == CDS_OK)
                cds_strbuf_printf(b, "cdsd_requests_total{op=\"%s\",outcome=\"%s\"} %lu\n", op_names[i],
                                  rc == CDS_OK ? "ok" : cds_rc_name((cds_rc)rc), v);
        }
}

/* A per-rule counter family; with by_indicator, one series per indicator. */
static void render_rules(cds_strbuf *b, const char *metric, int which)
{
    for (size_t k = 0; k < RULES; k++) {
        const char *name = slot_name(rule_names, k);
        if (!name) continue;
        for (int ind = 0; ind < (which == 0 ? INDICATORS : 1); ind++) {
            unsigned long v = which == 0 ? LOAD(rules[k].cards[ind]) : which == 1 ? LOAD(rules[k].errors)
                                                                                   : LOAD(rules[k].suppressed);
            if (which == 0 && !v && ind == INDICATORS - 1) continue;
            cds_strbuf_printf(b, "%s{rule=\"", metric);
            label(b, name);
            if (which == 0) cds_strbuf_printf(b, "\",indicator=\"%s", indicator_names[ind]);
            cds_strbuf_printf(b, "\"} %lu\n", v);
        }
    }
}

void cds_metrics_render(cds_strbuf *b, const cds_metrics_gauges *g)
{
    render_calls(b);
    help(b, "cdsd_cards_total", "counter", "Cards returned, by rule and indicator.");
    render_rules(b, "cdsd_cards_total", 0);
    help(b, "cdsd_rule_errors_total", "counter", "Rule evaluations that failed (the call went on without that rule).");
    render_rules(b, "cdsd_rule_errors_total", 1);
    help(b, "cdsd_cards_suppressed_total", "counter", "Cards a rule produced that were not shown.");
    render_rules(b, "cdsd_cards_suppressed_total", 2);
    help(b, "cdsd_http_responses_total", "counter", "Responses of the CDS Hooks HTTP gateway, by status code.");
    for (unsigned i = 100; i < HTTP_CODES; i++)
        if (LOAD(http_responses[i])) cds_strbuf_printf(b, "cdsd_http_responses_total{code=\"%u\"} %lu\n", i, LOAD(http_responses[i]));
    help(b, "cdsd_reloads_total", "counter", "Rule set loads and reloads, by outcome (failed: the previous set stayed live).");
    cds_strbuf_printf(b, "cdsd_reloads_total{outcome=\"ok\"} %lu\ncdsd_reloads_total{outcome=\"failed\"} %lu\n",
                      LOAD(reloads_ok), LOAD(reloads_failed));
    help(b, "cdsd_prefetch_fetches_inflight", "gauge", "Calls waiting for prefetch from their FHIR server (no worker held).");
    cds_strbuf_printf(b, "cdsd_prefetch_fetches_inflight %ld\n", LOAD(fetch_inflight));
    help(b, "cdsd_prefetch_fetch_refused_total", "counter",
         "Calls whose absent prefetch was not fetched: --fetch-max-calls fetches were in flight.");
    cds_strbuf_printf(b, "cdsd_prefetch_fetch_refused_total %lu\n", LOAD(fetch_refused));
    help(b, "cdsd_inflight_requests", "gauge", "Requests received and not yet answered.");
    cds_strbuf_printf(b, "cdsd_inflight_requests %ld\n", g->inflight);
    help(b, "cdsd_workers", "gauge", "Evaluation threads.");
    cds_strbuf_printf(b, "cdsd_workers %ld\n", g->workers);
    help(b, "cdsd_uptime_seconds", "gauge", "Seconds since the service started.");
    cds_strbuf_printf(b, "cdsd_uptime_seconds %.3f\n", g->uptime_s);
    help(b, "cdsd_ready", "gauge", "1 when /health/ready answers 200.");
    cds_strbuf_printf(b, "cdsd_ready %d\n", g->ready ? 1 : 0);
    help(b, "cdsd_draining", "gauge", "1 once shutdown has begun.");
    cds_strbuf_printf(b, "cdsd_draining %d\n", g->draining ? 1 : 0);
    if (g->have_audit) {
        help(b, "cdsd_audit_queue_depth", "gauge", "Decisions waiting for the audit writer (their replies wait too).");
        cds_strbuf_printf(b, "cdsd_audit_queue_depth %zu\n", g->audit_queue);
        help(b, "cdsd_audit_commit_seconds", "summary", "Audit log commits (one per batch of rows) and their time.");
        cds_strbuf_printf(b, "cdsd_audit_commit_seconds_sum %.6f\ncdsd_audit_commit_seconds_count %lu\n",
                          g->audit_commit_seconds, g->audit_commits);
        help(b, "cdsd_audit_commit_failures_total", "counter", "Audit commits that failed (their calls were answered 'internal').");
        cds_strbuf_printf(b, "cdsd_audit_commit_failures_total %lu\n", g->audit_failures);
    }
    if (g->shadow) {
        help(b, "cdsd_shadow_calls_total", "counter",
             "Calls for the --shadow rule set: evaluated (row committed), dropped (queue full), failed (row not written).");
        cds_strbuf_printf(b, "cdsd_shadow_calls_total{outcome=\"evaluated\"} %lu\ncdsd_shadow_calls_total{outcome=\"dropped\"} %lu\n"
                          "cdsd_shadow_calls_total{outcome=\"failed\"} %lu\n", g->shadow_evaluated, g->shadow_dropped, g->shadow_failed);
    }
    cds_gen *gen = cds_gen_acquire();
    if (gen) {
        const cds_ruleset *rs = cds_gen_ruleset(gen);
        help(b, "cdsd_ruleset_info", "gauge", "The live rule set: pack name, version and digest, knowledge digest, generation.");
        cds_strbuf_puts(b, "cdsd_ruleset_info{pack=\"");
        label(b, rs->name ? rs->name : "");
        cds_strbuf_puts(b, "\",version=\"");
        label(b, rs->version ? rs->version : "");
        cds_strbuf_printf(b, "\",digest=\"%s\",knowledge_digest=\"%s\",generation=\"%lu\"} 1\n", rs->digest,
                          cds_kb_digest(rs->kb), cds_gen_id(gen));
        cds_gen_release(gen);
    }
}
