/* prefetch.c — prefetch templates and the keys a request leaves out (see prefetch.h). */
#include "prefetch.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mp.h"

/* The user tokens and the resource type of context.userId each one stands for. */
static const struct { const char *token, *type; } user_tokens[] = {
    {"userPractitionerId", "Practitioner"},
    {"userPractitionerRoleId", "PractitionerRole"},
    {"userPatientId", "Patient"},
    {"userRelatedPersonId", "RelatedPerson"},
};

/* Walks the template: calls tok() for each token (trimmed name) and lit() for text between. */
typedef bool (*tok_fn)(void *u, const char *name, size_t n);
typedef void (*lit_fn)(void *u, const char *s, size_t n);

static bool walk(const char *t, void *u, tok_fn tok, lit_fn lit, char *why, size_t cap)
{
    const char *p = t;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *stray = strstr(p, "}}");
        if (stray && (!open || stray < open)) {
            snprintf(why, cap, "'}}' without '{{' at offset %zu", (size_t)(stray - t));
            return false;
        }
        if (!open) {
            if (lit) lit(u, p, strlen(p));
            return true;
        }
        if (lit) lit(u, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            snprintf(why, cap, "'{{' at offset %zu is not closed", (size_t)(open - t));
            return false;
        }
        const char *a = open + 2, *b = close;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (!tok(u, a, (size_t)(b - a))) {
            snprintf(why, cap, "unsupported token '{{%.*s}}' (use {{context.FIELD}} or a user token such as "
                     "{{userPractitionerId}})", (int)(b - a), a);
            return false;
        }
        p = close + 2;
    }
}

static bool is_context_token(const char *name, size_t n)
{
    if (n <= 8 || strncmp(name, "context.", 8) != 0) return false;
    for (size_t i = 8; i < n; i++)   /* root-level fields only: {{context.medication.id}} is invalid */
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') return false;
    return true;
}

static int user_token(const char *name, size_t n)
{
    for (int i = 0; i < (int)(sizeof user_tokens / sizeof user_tokens[0]); i++)
        if (strlen(user_tokens[i].token) == n && strncmp(user_tokens[i].token, name, n) == 0) return i;
    return -1;
}

static bool check_tok(void *u, const char *name, size_t n)
{
    (void)u;
    return is_context_token(name, n) || user_token(name, n) >= 0;
}

bool cds_prefetch_template_ok(const char *tmpl, char *why, size_t cap)
{
    return walk(tmpl, NULL, check_tok, NULL, why, cap);
}

typedef struct render_state {
    const msgpack_object *context;
    cds_strbuf *out;
    char missing[96];         /* the token that had no value */
} render_state;

static void put_encoded(cds_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            cds_strbuf_putc(b, (char)c);
        } else {
            cds_strbuf_putc(b, '%');
            cds_strbuf_putc(b, hex[c >> 4]);
            cds_strbuf_putc(b, hex[c & 15]);
        }
    }
}

static void render_lit(void *u, const char *s, size_t n) { cds_strbuf_append(((render_state *)u)->out, s, n); }

static bool render_tok(void *u, const char *name, size_t n)
{
    render_state *st = u;
    snprintf(st->missing, sizeof st->missing, "%.*s", (int)n, name);
    if (is_context_token(name, n)) {
        char field[64];
        snprintf(field, sizeof field, "%.*s", (int)(n - 8), name + 8);
        const msgpack_object *v = cds_mp_get(st->context, field);
        if (!v) return false;
        char num[40];
        switch (v->type) {
        case MSGPACK_OBJECT_STR:
            if (!v->via.str.size) return false;
            put_encoded(st->out, v->via.str.ptr, v->via.str.size);
            return true;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            snprintf(num, sizeof num, "%llu", (unsigned long long)v->via.u64);
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            snprintf(num, sizeof num, "%lld", (long long)v->via.i64);
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            snprintf(num, sizeof num, "%s", v->via.boolean ? "true" : "false");
            break;
        default:
            return false;     /* objects, arrays, null: not a prefetch token */
        }
        cds_strbuf_puts(st->out, num);
        return true;
    }
    int ut = user_token(name, n);
    if (ut < 0) return false;
    /* context.userId is "Type/id"; the token is the bare id when the type matches. */
    const msgpack_object *uid = cds_mp_get(st->context, "userId");
    if (!cds_mp_is_str(uid)) return false;
    const char *type = user_tokens[ut].type;
    size_t tl = strlen(type);
    if (uid->via.str.size <= tl + 1 || strncmp(uid->via.str.ptr, type, tl) != 0 || uid->via.str.ptr[tl] != '/')
        return false;
    put_encoded(st->out, uid->via.str.ptr + tl + 1, uid->via.str.size - tl - 1);
    return true;
}

cds_rc cds_prefetch_render(const char *tmpl, const msgpack_object *request, cds_strbuf *out, cds_error *err)
{
    render_state st = {cds_mp_get(request, "context"), out, ""};
    char why[160];
    if (!walk(tmpl, &st, render_tok, render_lit, why, sizeof why)) {
        if (st.missing[0] && check_tok(NULL, st.missing, strlen(st.missing)))
            return cds_error_set(err, CDS_EPREFETCH, "request.context", "the prefetch token {{%s}} has no value in this request",
                                 st.missing);
        return cds_error_set(err, CDS_EPREFETCH, NULL, "prefetch template: %s", why);
    }
    return CDS_OK;
}

static bool is_searchset(const msgpack_object *v)
{
    return cds_mp_str_eq(cds_mp_get(v, "resourceType"), "Bundle");
}

const msgpack_object *cds_bundle_next_link(const msgpack_object *bundle)
{
    const msgpack_object *links = cds_mp_get(bundle, "link");
    if (!links || links->type != MSGPACK_OBJECT_ARRAY) return NULL;
    for (uint32_t i = 0; i < links->via.array.size; i++) {
        const msgpack_object *l = &links->via.array.ptr[i];
        const msgpack_object *url = cds_mp_get(l, "url");
        if (cds_mp_str_eq(cds_mp_get(l, "relation"), "next") && cds_mp_is_str(url) && url->via.str.size) return url;
    }
    return NULL;
}

size_t cds_prefetch_gaps(const cds_service *s, const msgpack_object *request, cds_prefetch_gap *out, size_t cap)
{
    const msgpack_object *pre = cds_mp_get(request, "prefetch");
    if (pre && pre->type != MSGPACK_OBJECT_MAP) pre = NULL;
    size_t n = 0;
    for (size_t k = 0; k < s->nprefetch; k++) {
        const msgpack_object *v = pre ? cds_mp_get(pre, s->prefetch_keys[k]) : NULL;
        const msgpack_object *partial = NULL;
        if (v && !(is_searchset(v) && cds_bundle_next_link(v))) continue;
        if (v) partial = v;
        if (n < cap) out[n] = (cds_prefetch_gap){k, s->prefetch_required && s->prefetch_required[k], partial};
        n++;
    }
    return n;
}

/* The first issue's diagnostics, else its details.text: the reason a fetch failed, in words. */
static const msgpack_object *outcome_reason(const msgpack_object *oo)
{
    const msgpack_object *issues = cds_mp_get(oo, "issue");
    if (!issues || issues->type != MSGPACK_OBJECT_ARRAY || issues->via.array.size == 0) return NULL;
    const msgpack_object *first = &issues->via.array.ptr[0];
    const msgpack_object *d = cds_mp_get(first, "diagnostics");
    if (cds_mp_is_str(d) && d->via.str.size) return d;
    d = cds_mp_get(cds_mp_get(first, "details"), "text");
    return cds_mp_is_str(d) && d->via.str.size ? d : NULL;
}

void cds_prefetch_status_of(const cds_service *s, const msgpack_object *prefetch, cds_prefetch_status *out)
{
    if (prefetch && prefetch->type != MSGPACK_OBJECT_MAP) prefetch = NULL;
    for (size_t k = 0; k < s->nprefetch && k < CDS_PREFETCH_MAX_KEYS; k++) {
        const msgpack_object *v = prefetch ? cds_mp_get(prefetch, s->prefetch_keys[k]) : NULL;
        cds_prefetch_status *o = &out[k];
        *o = (cds_prefetch_status){s->prefetch_keys[k], CDS_PF_SENT, s->prefetch_required && s->prefetch_required[k],
                                   NULL, 0};
        if (!v) o->state = CDS_PF_ABSENT;
        else if (v->type == MSGPACK_OBJECT_NIL) o->state = CDS_PF_NONE;
        else if (cds_mp_str_eq(cds_mp_get(v, "resourceType"), "OperationOutcome")) {
            o->state = CDS_PF_ERROR;
            const msgpack_object *why = outcome_reason(v);
            if (why) {
                o->reason = why->via.str.ptr;
                o->reason_len = why->via.str.size;
            }
        } else if (is_searchset(v) && cds_bundle_next_link(v)) o->state = CDS_PF_PARTIAL;
    }
}

const char *cds_prefetch_state_name(cds_prefetch_state st)
{
    static const char *const names[] = {"sent", "none", "partial", "error", "absent"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "absent";
}
