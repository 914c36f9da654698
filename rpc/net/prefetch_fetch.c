/* prefetch_fetch.c — absent prefetch fetched from the client's FHIR server (see prefetch_fetch.h). */
#include "prefetch_fetch.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "mp.h"
#include "strbuf.h"

#define EVAL_RESERVE_MS 10    /* left for evaluation after the fetch, inside the deadline */

typedef struct key_fetch {
    cds_fetch_job *job;
    bool required;
    const msgpack_object *partial;   /* the pages the client sent (in the request), or NULL */
    char *name;
    CURL *h;
    cds_strbuf body;
    size_t max_bytes;
    bool overflow;
    cJSON *acc;               /* the resource, or the Bundle with every page's entries so far */
    cJSON *outcome;           /* the server's OperationOutcome on failure, if it sent one */
    int pages;
    bool done;
    bool running;             /* a transfer of it is on the multi handle */
    char fail[160];           /* why it failed, for the log; never holds the URL or the token */
    bool tell;                /* the reason is the request's own (fhirServer, its template): the reply may
                                 say it. What the FHIR server did (refused, timed out, answered 404, spoke
                                 no HTTP) stays in the log: over NNG anyone could probe ports with it. */
} key_fetch;

/* What a reply (412 text, the "did not run" card) says of a failure the request did not cause. */
#define UNTOLD_REASON "the FHIR server did not provide it (the service's log has the reason)"

static const char *reply_reason(const key_fetch *k) { return k->tell ? k->fail : UNTOLD_REASON; }

void cds_fetch_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static long remaining_ms(const struct timespec *deadline)
{
    return deadline ? cds_ms_until(deadline) : 1L << 30;
}

/* A loopback host by address: "localhost", [::1], or an IPv4 literal in 127.0.0.0/8 (a name
 * that merely starts with "127." can resolve anywhere). */
static bool loopback_host(const char *host)
{
    struct in_addr a;
    if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") || !strcmp(host, "::1")) return true;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* https anywhere; http only to a loopback host, where no token crosses a network (*plain is
 * set then: such a fetch must not go through a proxy either). */
static bool server_allowed(const char *base, bool *plain, char *why, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;
    *plain = false;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0)) {
        snprintf(why, cap, "fhirServer is not a valid URL");
    } else if (!strcmp(scheme, "https")) {
        ok = true;
    } else if (!strcmp(scheme, "http") && loopback_host(host)) {
        ok = *plain = true;
    } else {
        snprintf(why, cap, "fhirServer must use https (plain http only to a loopback host)");
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* A URL under fhirServer: the token may be sent there. Both are normalised (normalised_url). */
static bool under_base(const char *url, const char *base, size_t blen)
{
    return strncmp(url, base, blen) == 0 && (url[blen] == '/' || url[blen] == '?' || url[blen] == '\0');
}

/* url with its path's dot segments removed (RFC 3986 §5.2.4, by libcurl's parser), %2E counted
 * as the dot it is (".../fhir/%2e%2e/admin" left fhirServer's path once the server decoded it);
 * malloc'd. NULL when it is no URL, or its path has an encoded slash or a backslash, which a
 * server may turn into a separator after this check. */
static char *normalised_url(const char *url)
{
    char *t = malloc(strlen(url) + 1), *w = t, *out = NULL;
    if (!t) return NULL;
    bool in_path = true;
    for (const char *r = url; *r;) {
        if (*r == '?' || *r == '#') in_path = false;
        if (in_path && r[0] == '%' && r[1] == '2' && (r[2] == 'e' || r[2] == 'E')) {
            *w++ = '.';
            r += 3;
            continue;
        }
        if (in_path && (*r == '\\' || (r[0] == '%' && ((r[1] == '2' && (r[2] == 'f' || r[2] == 'F')) ||
                                                       (r[1] == '5' && (r[2] == 'c' || r[2] == 'C')))))) {
            free(t);
            return NULL;
        }
        *w++ = *r++;
    }
    *w = '\0';
    CURLU *u = curl_url();
    char *norm = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, t, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &norm, 0) == CURLUE_OK)
        out = strdup(norm);
    curl_free(norm);
    curl_url_cleanup(u);
    free(t);
    return out;
}

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    key_fetch *k = u;
    size_t len = size * n;
    if (k->body.len + len > k->max_bytes) {
        k->overflow = true;
        return 0;             /* aborts the transfer */
    }
    cds_strbuf_append(&k->body, p, len);
    return len;
}

static const char *next_link(const cJSON *bundle)
{
    const cJSON *links = cJSON_GetObjectItemCaseSensitive(bundle, "link"), *l;
    cJSON_ArrayForEach(l, links) {
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(l, "relation");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(l, "url");
        if (cJSON_IsString(rel) && !strcmp(rel->valuestring, "next") && cJSON_IsString(url) && *url->valuestring)
            return url->valuestring;
    }
    return NULL;
}

static bool is_type(const cJSON *r, const char *type)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "resourceType");
    return cJSON_IsString(t) && !strcmp(t->valuestring, type);
}

/* Adds a page to the accumulated Bundle: its entries appended, its links replacing the old ones
 * (so the last page's absent `next` marks the search complete). Takes ownership of page. */
static void merge_page(key_fetch *k, cJSON *page)
{
    if (!k->acc) {
        k->acc = page;
        return;
    }
    cJSON *entries = cJSON_GetObjectItemCaseSensitive(k->acc, "entry");
    if (!cJSON_IsArray(entries)) {
        cJSON_DeleteItemFromObjectCaseSensitive(k->acc, "entry");
        entries = cJSON_AddArrayToObject(k->acc, "entry");
    }
    cJSON *more = cJSON_DetachItemFromObjectCaseSensitive(page, "entry");
    while (cJSON_IsArray(more) && more->child) cJSON_AddItemToArray(entries, cJSON_DetachItemViaPointer(more, more->child));
    cJSON_Delete(more);
    cJSON *links = cJSON_DetachItemFromObjectCaseSensitive(page, "link");
    cJSON_DeleteItemFromObjectCaseSensitive(k->acc, "link");
    if (links) cJSON_AddItemToObject(k->acc, "link", links);
    cJSON_Delete(page);
}

static void fail(key_fetch *k, const char *fmt, const char *arg)
{
    snprintf(k->fail, sizeof k->fail, fmt, arg);
    k->done = true;
}

/* A failure the request itself caused: the reply may say why. */
static void refuse(key_fetch *k, const char *fmt, const char *arg)
{
    fail(k, fmt, arg);
    k->tell = true;
}

static void start(CURLM *m, key_fetch *k, const char *url, long budget_ms)
{
    if (budget_ms < 1) budget_ms = 1;   /* 0 would be "no timeout" to libcurl */
    cds_strbuf_clear(&k->body);
    k->overflow = false;
    curl_easy_setopt(k->h, CURLOPT_URL, url);
    curl_easy_setopt(k->h, CURLOPT_TIMEOUT_MS, budget_ms);
    curl_easy_setopt(k->h, CURLOPT_CONNECTTIMEOUT_MS, budget_ms);
    k->pages++;
    k->running = true;
    curl_multi_add_handle(m, k->h);
}

/* One transfer of k finished: keep its page, start the next one or finish. */
static void finished(CURLM *m, key_fetch *k, CURLcode res, const cds_fetch_opts *o, const char *base, size_t blen,
                     long budget_ms)
{
    k->running = false;
    curl_multi_remove_handle(m, k->h);
    if (res != CURLE_OK) {
        if (k->overflow) snprintf(k->fail, sizeof k->fail, "the answer is larger than %zu bytes", o->max_bytes);
        else if (res == CURLE_OPERATION_TIMEDOUT) snprintf(k->fail, sizeof k->fail, "the FHIR server did not answer in time");
        else snprintf(k->fail, sizeof k->fail, "%s", curl_easy_strerror(res));
        k->done = true;
        return;
    }
    long status = 0;
    curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
    /* a NUL would cut a string of the resource silently (item 8 of issue 22, at this door) */
    bool nul = k->body.len && memchr(k->body.data, '\0', k->body.len);
    cds_strbuf_putc(&k->body, '\0');
    cJSON *page = nul ? NULL : cJSON_Parse(k->body.data);
    if (status < 200 || status > 299) {
        snprintf(k->fail, sizeof k->fail, "the FHIR server answered HTTP %ld", status);
        if (page && is_type(page, "OperationOutcome")) k->outcome = page;
        else cJSON_Delete(page);
        k->done = true;
        return;
    }
    if (!page || !cJSON_IsObject(page) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(page, "resourceType"))) {
        cJSON_Delete(page);
        fail(k, "%s", nul ? "the FHIR server's answer contains a NUL byte" : "the FHIR server's answer is not a FHIR resource in JSON");
        return;
    }
    if (is_type(page, "OperationOutcome")) {
        k->outcome = page;
        fail(k, "%s", "the FHIR server answered with an OperationOutcome");
        return;
    }
    merge_page(k, page);
    const char *next = is_type(k->acc, "Bundle") ? next_link(k->acc) : NULL;
    if (!next) {
        k->done = true;
    } else if (k->pages >= o->max_pages) {
        snprintf(k->fail, sizeof k->fail, "the search has more than %d pages", o->max_pages);
        k->done = true;
    } else {
        char *url = normalised_url(next);
        if (url && under_base(url, base, blen)) start(m, k, url, budget_ms);
        else fail(k, "%s", "a next link points outside fhirServer");
        free(url);
    }
}

static cJSON *synth_outcome(const char *why)
{
    cJSON *oo = cJSON_CreateObject(), *issue = cJSON_CreateObject();
    cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
    cJSON_AddStringToObject(issue, "severity", "error");
    cJSON_AddStringToObject(issue, "code", "exception");
    char d[220];
    snprintf(d, sizeof d, "cdsd could not fetch this prefetch: %s", why);   /* why: reply_reason */
    cJSON_AddStringToObject(issue, "diagnostics", d);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(oo, "issue"), issue);
    return oo;
}

/* The value a gap contributes to the completed request, or NULL to leave it as sent. */
static const cJSON *value_of(key_fetch *k)
{
    if (k->acc) return k->acc;                /* complete, or the pages read before the failure (next link kept) */
    if (k->partial) return NULL;         /* keep the pages the client sent */
    if (!k->outcome) k->outcome = synth_outcome(reply_reason(k));
    return k->outcome;
}

/* Whether a fetched value replaces the request's own value for this key (a paginated Bundle). */
static bool replaced(key_fetch *ks, size_t n, const msgpack_object *key)
{
    for (size_t j = 0; j < n; j++)
        if (value_of(&ks[j]) != NULL && cds_mp_str_eq(key, ks[j].name)) return true;
    return false;
}

/* The prefetch map: what was sent, with fetched values added or replacing partial ones. */
static void pack_prefetch(msgpack_packer *pk, const msgpack_object *pre, key_fetch *ks, size_t n)
{
    const msgpack_object_map *pm = pre && pre->type == MSGPACK_OBJECT_MAP ? &pre->via.map : NULL;
    size_t count = 0;
    for (size_t j = 0; j < n; j++) count += value_of(&ks[j]) != NULL;
    for (uint32_t e = 0; pm && e < pm->size; e++) count += !replaced(ks, n, &pm->ptr[e].key);
    msgpack_pack_map(pk, count);
    for (uint32_t e = 0; pm && e < pm->size; e++) {
        if (replaced(ks, n, &pm->ptr[e].key)) continue;
        cds_mp_pack_object(pk, &pm->ptr[e].key);
        cds_mp_pack_object(pk, &pm->ptr[e].val);
    }
    for (size_t j = 0; j < n; j++) {
        const cJSON *v = value_of(&ks[j]);
        if (!v) continue;
        cds_mp_pack_str(pk, ks[j].name);
        cds_cjson_pack(pk, v);
    }
}

/* The request with its prefetch completed: every other field packed as it came. */
static void pack_completed(const msgpack_object *request, key_fetch *ks, size_t n, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    const msgpack_object *pre = cds_mp_get(request, "prefetch");
    const msgpack_object_map *rm = &request->via.map;
    msgpack_pack_map(&pk, rm->size + (pre == NULL));
    for (uint32_t i = 0; i < rm->size; i++) {
        cds_mp_pack_object(&pk, &rm->ptr[i].key);
        if (cds_mp_str_eq(&rm->ptr[i].key, "prefetch")) pack_prefetch(&pk, pre, ks, n);
        else cds_mp_pack_object(&pk, &rm->ptr[i].val);
    }
    if (!pre) {
        cds_mp_pack_str(&pk, "prefetch");
        pack_prefetch(&pk, NULL, ks, n);
    }
}

struct cds_fetch_job {
    cds_fetch_opts o;
    const msgpack_object *request;   /* the caller's, read again when finishing */
    char service[64], hook[64];      /* for the log */
    bool reject_missing;
    char base[1024];                 /* fhirServer, normalised, without a trailing slash */
    size_t blen;
    bool plain;                      /* plain http to loopback: no proxy */
    struct curl_slist *headers;      /* holds the token: wiped when freed */
    struct timespec until;           /* the fetch's end: --fetch-timeout, inside the deadline */
    bool until_deadline;             /* ...set by the deadline */
    key_fetch *ks;
    char **first_url;                /* per key: its first URL, until attached */
    size_t n;
};

long cds_fetch_job_ms_left(const cds_fetch_job *j) { return cds_ms_until(&j->until); }

bool cds_fetch_job_done(const cds_fetch_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (!j->ks[i].done) return false;
    return true;
}

/* The first URL of key k, or k failed (a problem of the request: the reply may say it). */
static void first_url(cds_fetch_job *j, key_fetch *k, const cds_service *s, const cds_prefetch_gap *gap, char **out)
{
    cds_strbuf url;
    cds_strbuf_init(&url);
    cds_error rerr;
    if (k->partial) {
        /* the client sent page 1: continue from its next link */
        const msgpack_object *next = cds_bundle_next_link(k->partial);
        char *sent = strndup(next->via.str.ptr, next->via.str.size), *norm = sent ? normalised_url(sent) : NULL;
        free(sent);
        if (norm) cds_strbuf_puts(&url, norm);
        free(norm);
        cds_strbuf js;
        cds_strbuf_init(&js);
        cds_json_from_mp(&js, k->partial, -1);
        k->acc = cJSON_ParseWithLength(js.data, js.len);
        cds_strbuf_free(&js);
        if (!url.len || !under_base(url.data, j->base, j->blen)) refuse(k, "%s", "a next link points outside fhirServer");
    } else if (cds_prefetch_render(s->prefetch_templates[gap->key], j->request, &url, &rerr) != CDS_OK) {
        refuse(k, "%.150s", rerr.message);
    } else {
        cds_strbuf rel = url;
        cds_strbuf_init(&url);
        cds_strbuf_printf(&url, "%s%s%s", j->base, rel.data[0] == '/' ? "" : "/", rel.data);
        cds_strbuf_free(&rel);
    }
    if (!k->done) *out = strdup(url.data);
    if (!k->done && !*out) fail(k, "%s", "out of memory");
    cds_strbuf_free(&url);
}

cds_fetch_job *cds_fetch_job_new(const cds_fetch_opts *o, const cds_service *s, const msgpack_object *request,
                                 const cds_prefetch_gap *gaps, size_t ngaps, const struct timespec *deadline,
                                 cds_error *err)
{
    const msgpack_object *server = cds_mp_get(request, "fhirServer");
    const msgpack_object *token = cds_mp_get(cds_mp_get(request, "fhirAuthorization"), "access_token");
    if (!cds_mp_is_str(server) || !cds_mp_is_str(token) || !token->via.str.size) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "prefetch fetch without fhirServer and an access token");
        return NULL;
    }
    cds_fetch_job *j = calloc(1, sizeof *j);
    if (j) j->ks = calloc(ngaps ? ngaps : 1, sizeof *j->ks);
    if (j) j->first_url = calloc(ngaps ? ngaps : 1, sizeof *j->first_url);
    if (!j || !j->ks || !j->first_url) {
        if (j) free(j->ks);
        free(j);
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    j->o = *o;
    j->request = request;
    j->n = ngaps;
    snprintf(j->service, sizeof j->service, "%s", s->id);
    snprintf(j->hook, sizeof j->hook, "%s", s->hook);
    j->reject_missing = s->reject_missing_prefetch;
    snprintf(j->base, sizeof j->base, "%.*s", (int)server->via.str.size, server->via.str.ptr);
    char *nbase = server->via.str.size < sizeof j->base ? normalised_url(j->base) : NULL;
    if (nbase && strlen(nbase) < sizeof j->base) snprintf(j->base, sizeof j->base, "%s", nbase);   /* as next links are compared */
    free(nbase);
    j->blen = strlen(j->base);
    while (j->blen && j->base[j->blen - 1] == '/') j->base[--j->blen] = '\0';
    /* the header is built at its full length (never truncated), then wiped from our copy */
    size_t hlen = sizeof "Authorization: Bearer " + token->via.str.size;
    char *auth_header = malloc(hlen);
    if (auth_header) {
        snprintf(auth_header, hlen, "Authorization: Bearer %.*s", (int)token->via.str.size, token->via.str.ptr);
        j->headers = curl_slist_append(NULL, auth_header);
        j->headers = curl_slist_append(j->headers, "Accept: application/fhir+json");
        explicit_bzero(auth_header, hlen);
        free(auth_header);
    }

    cds_deadline_in(&j->until, o->timeout_ms);
    if (deadline) {
        long left = remaining_ms(deadline) - EVAL_RESERVE_MS;
        if (left < o->timeout_ms) {
            cds_deadline_in(&j->until, left > 0 ? (double)left : 0);
            j->until_deadline = true;
        }
    }
    char why[160] = "";
    bool allowed = server->via.str.size < sizeof j->base && server_allowed(j->base, &j->plain, why, sizeof why);
    if (server->via.str.size >= sizeof j->base) snprintf(why, sizeof why, "fhirServer is longer than %zu bytes", sizeof j->base - 1);
    if (allowed && cds_fetch_job_ms_left(j) <= 0) snprintf(why, sizeof why, "no time was left before the request deadline");
    if (!j->headers) snprintf(why, sizeof why, "out of memory");
    for (size_t i = 0; i < ngaps; i++) {
        key_fetch *k = &j->ks[i];
        k->job = j;
        k->required = gaps[i].required;
        k->partial = gaps[i].partial;
        k->name = strdup(s->prefetch_keys[gaps[i].key]);
        k->max_bytes = o->max_bytes;
        cds_strbuf_init(&k->body);
        if (!k->name) snprintf(why, sizeof why, "out of memory");
        if (why[0]) refuse(k, "%s", why);
        else first_url(j, k, s, &gaps[i], &j->first_url[i]);
    }
    return j;
}

void cds_fetch_job_attach(cds_fetch_job *j, CURLM *m)
{
    for (size_t i = 0; i < j->n; i++) {
        key_fetch *k = &j->ks[i];
        char *url = j->first_url[i];
        j->first_url[i] = NULL;
        if (!url || k->done) {
            free(url);
            continue;
        }
        k->h = curl_easy_init();
        if (!k->h) {
            fail(k, "%s", "out of memory");
            free(url);
            continue;
        }
        curl_easy_setopt(k->h, CURLOPT_HTTPHEADER, j->headers);
        curl_easy_setopt(k->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(k->h, CURLOPT_WRITEDATA, k);
        curl_easy_setopt(k->h, CURLOPT_PRIVATE, k);
        curl_easy_setopt(k->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(k->h, CURLOPT_FOLLOWLOCATION, 0L);   /* a redirect would carry the token away */
        curl_easy_setopt(k->h, CURLOPT_PROTOCOLS_STR, "http,https");
        /* plain http goes only to loopback: never through a proxy from the environment (every
         * URL of this fetch is under fhirServer, so no proxy at all for it) */
        curl_easy_setopt(k->h, CURLOPT_NOPROXY, j->plain ? "*" : "localhost,127.0.0.1,::1");
        curl_easy_setopt(k->h, CURLOPT_USERAGENT, "cdsd");
        start(m, k, url, cds_fetch_job_ms_left(j));
        free(url);
    }
}

cds_fetch_job *cds_fetch_transfer_done(CURLM *m, CURL *h, CURLcode res)
{
    key_fetch *k = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&k);
    cds_fetch_job *j = k->job;
    finished(m, k, res, &j->o, j->base, j->blen, cds_fetch_job_ms_left(j));
    for (size_t i = 0; i < j->n; i++)
        if (j->ks[i].running) return NULL;
    return j;
}

void cds_fetch_job_detach(cds_fetch_job *j, CURLM *m, const char *why, bool tell)
{
    for (size_t i = 0; i < j->n; i++) {
        key_fetch *k = &j->ks[i];
        if (!k->done) {
            snprintf(k->fail, sizeof k->fail, "%s", why);
            k->tell = tell;
            k->done = true;
        }
        if (k->h) {
            if (m && k->running) curl_multi_remove_handle(m, k->h);
            k->running = false;
            curl_easy_cleanup(k->h);
            k->h = NULL;
        }
    }
}

void cds_fetch_job_time_up(cds_fetch_job *j, CURLM *m)
{
    cds_fetch_job_detach(j, m, j->until_deadline ? "the FHIR server did not answer before the deadline"
                                                 : "the FHIR server did not answer in time", false);
}

cds_rc cds_fetch_job_finish(cds_fetch_job *j, msgpack_sbuffer *out, cds_error *err)
{
    cds_strbuf failed;
    cds_strbuf_init(&failed);
    const char *first = NULL;
    for (size_t i = 0; i < j->n; i++) {
        key_fetch *k = &j->ks[i];
        /* A required key that failed fails the call only for a service that rejects missing
         * prefetch; otherwise its OperationOutcome goes in and the engine answers with a
         * "did not run" card for it. */
        bool fatal = k->required && j->reject_missing;
        if (k->fail[0]) {   /* for the on-call engineer: the key and the reason, never the URL or token */
            cds_log_fields f = {.op = "call", .service = j->service, .hook = j->hook, .status = fatal ? 412 : 200, .path = k->name};
            cds_log_request(k->required ? CDS_LOG_WARN : CDS_LOG_INFO, "prefetch_fetch", &f, "prefetch '%s' (%s) not fetched: %s",
                            k->name, k->required ? "required" : "optional", k->fail);
        }
        if (k->fail[0] && fatal) {
            cds_strbuf_printf(&failed, "%s'%s' (%s)", failed.len ? "; " : "", k->name, reply_reason(k));
            if (!first) first = k->name;
        }
    }
    cds_rc rc = CDS_OK;
    if (first) {
        char path[160];
        snprintf(path, sizeof path, "request.prefetch.%s", first);
        rc = cds_error_set(err, CDS_EPREFETCH, path, "required prefetch could not be fetched: %s", failed.data);
    } else {
        pack_completed(j->request, j->ks, j->n, out);
    }
    cds_strbuf_free(&failed);
    return rc;
}

void cds_fetch_job_free(cds_fetch_job *j)
{
    if (!j) return;
    cds_fetch_job_detach(j, NULL, "not fetched", false);
    for (size_t i = 0; i < j->n; i++) {
        cds_strbuf_free(&j->ks[i].body);
        cJSON_Delete(j->ks[i].acc);
        cJSON_Delete(j->ks[i].outcome);
        free(j->ks[i].name);
        free(j->first_url[i]);
    }
    free(j->ks);
    free(j->first_url);
    if (j->headers) {   /* wipe the token's copy inside the header list before freeing it */
        explicit_bzero(j->headers->data, strlen(j->headers->data));
        curl_slist_free_all(j->headers);
    }
    free(j);
}
