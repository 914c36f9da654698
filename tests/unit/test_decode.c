/* test_decode.c — hostile and malformed requests: MessagePack structure, CDS Hooks shape.
 * Every case must come back as bad_request with a path, never crash or over-allocate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mp.h"
#include "request.h"

static const char *GOOD =
    "{\"hook\":\"order-sign\",\"hookInstance\":\"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea\","
    "\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p1\",\"draftOrders\":{\"resourceType\":\"Bundle\","
    "\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"m1\",\"status\":\"draft\"}}]}},"
    "\"prefetch\":{\"patient\":null}}";

static void to_mp(const char *json, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    cds_error err;
    assert_int_equal(cds_json_to_mp(json, strlen(json), "test", sb, &err), CDS_OK);
}

/* Decodes + validates; returns the error code and path. */
static cds_rc parse(const char *buf, size_t len, cds_error *err)
{
    msgpack_unpacked u;
    cds_error_clear(err);
    cds_rc rc = cds_mp_decode(buf, len, &u, err);
    if (rc) return rc;
    cds_arena a;
    cds_arena_init(&a);
    cds_request r;
    rc = cds_request_parse(&u.data, "request", &a, &r, err);
    cds_arena_free(&a);
    msgpack_unpacked_destroy(&u);
    return rc;
}

static cds_rc parse_json(const char *json, cds_error *err)
{
    msgpack_sbuffer sb;
    to_mp(json, &sb);
    cds_rc rc = parse(sb.data, sb.size, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void a_good_request_parses(void **s)
{
    (void)s;
    cds_error err;
    assert_int_equal(parse_json(GOOD, &err), CDS_OK);
}

static void expect_path(const char *json, const char *path)
{
    cds_error err;
    cds_rc rc = parse_json(json, &err);
    if (rc != CDS_EBADREQ || strcmp(err.path, path) != 0)
        fail_msg("%s\n -> rc %d path '%s' (%s); wanted path '%s'", json, rc, err.path, err.message, path);
}

static void every_required_field_missing_is_named(void **s)
{
    (void)s;
    expect_path("{\"hookInstance\":\"x\",\"context\":{}}", "request.hook");
    expect_path("{\"hook\":\"patient-view\",\"context\":{}}", "request.hookInstance");
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\"}", "request.context");
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"Practitioner/1\"}}",
                "request.context.patientId");
    expect_path("{\"hook\":\"order-sign\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\"}}",
                "request.context.draftOrders");
    expect_path("{\"hook\":\"order-select\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\","
                "\"draftOrders\":{\"resourceType\":\"Bundle\"}}}",
                "request.context.selections");
    expect_path("{\"hook\":\"order-sign\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\","
                "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\"}},{\"fullUrl\":\"x\"}]}}}",
                "request.context.draftOrders.entry[1].resource");
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"fhirAuthorization\":{},\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\"}}",
                "request");
    /* fhirAuthorization: a token, without bytes that could split the HTTP header it becomes */
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"fhirServer\":\"https://f\",\"fhirAuthorization\":{},"
                "\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\"}}",
                "request.fhirAuthorization.access_token");
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"fhirServer\":\"https://f\",\"fhirAuthorization\":"
                "{\"access_token\":\"t\\r\\nX-Injected: 1\"},\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\"}}",
                "request.fhirAuthorization.access_token");
    expect_path("{\"hook\":\"patient-view\",\"hookInstance\":\"x\",\"fhirServer\":\"https://f\",\"fhirAuthorization\":"
                "{\"access_token\":\"t\",\"token_type\":\"MAC\"},\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\"}}",
                "request.fhirAuthorization.token_type");
}

static void every_field_of_a_wrong_type_is_named(void **s)
{
    (void)s;
    static const char *const values[] = {"null", "true", "1", "1.5", "[]", "{}", "\"\""};
    static const struct { const char *field, *path, *good; } fields[] = {
        {"hook", "request.hook", "\"patient-view\""},
        {"hookInstance", "request.hookInstance", "\"x\""},
        {"context", "request.context", "{\"userId\":\"P/1\",\"patientId\":\"p\"}"},
        {"fhirServer", "request.fhirServer", NULL},
        {"prefetch", "request.prefetch", NULL},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char json[512];
            const char *val = values[v];
            /* skip the values that are of the right type */
            if (strcmp(fields[f].field, "context") == 0 && strcmp(val, "{}") == 0) continue;
            if (strcmp(fields[f].field, "prefetch") == 0 && (strcmp(val, "{}") == 0 || strcmp(val, "null") == 0)) continue;
            snprintf(json, sizeof json, "{\"hook\":%s,\"hookInstance\":%s,\"context\":%s%s%s%s%s}",
                     strcmp(fields[f].field, "hook") == 0 ? val : "\"patient-view\"",
                     strcmp(fields[f].field, "hookInstance") == 0 ? val : "\"x\"",
                     strcmp(fields[f].field, "context") == 0 ? val : "{\"userId\":\"P/1\",\"patientId\":\"p\"}",
                     fields[f].good ? "" : ",\"", fields[f].good ? "" : fields[f].field, fields[f].good ? "" : "\":",
                     fields[f].good ? "" : val);
            expect_path(json, fields[f].path);
        }
    }
}

/* draftOrders that was not a Bundle was read as one draft resource; without a resourceType it
 * crashed the server (a NULL type joined into the order's reference). Found by AFL++. */
static void draft_orders_must_be_a_bundle(void **s)
{
    (void)s;
    static const char *const bad[] = {"{\"id\":\"x\"}", "{\"resourceType\":\"MedicationRequest\"}",
                                       "{\"resourceType\":7,\"entry\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"hook\":\"order-sign\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\","
                 "\"draftOrders\":%s}}", bad[i]);
        expect_path(json, "request.context.draftOrders.resourceType");
    }
    cds_error err;
    assert_int_equal(parse_json("{\"hook\":\"order-sign\",\"hookInstance\":\"x\",\"context\":{\"userId\":\"P/1\","
                                "\"patientId\":\"p\",\"draftOrders\":{\"resourceType\":\"Bundle\"}}}", &err),
                     CDS_OK);   /* an empty Bundle is fine */
}

static void not_a_map_is_rejected(void **s)
{
    (void)s;
    cds_error err;
    assert_int_equal(parse_json("[1,2,3]", &err), CDS_EBADREQ);
    assert_int_equal(parse_json("\"hello\"", &err), CDS_EBADREQ);
}

static void every_truncation_of_a_good_request_is_rejected(void **s)
{
    (void)s;
    msgpack_sbuffer sb;
    to_mp(GOOD, &sb);
    for (size_t n = 0; n < sb.size; n++) {
        /* exact-size heap copy so ASan catches a one-byte over-read */
        char *copy = malloc(n ? n : 1);
        memcpy(copy, sb.data, n);
        cds_error err;
        assert_int_equal(parse(copy, n, &err), CDS_EBADREQ);
        free(copy);
    }
    for (size_t junk = 1; junk <= 16; junk++) {
        char *copy = malloc(sb.size + junk);
        memcpy(copy, sb.data, sb.size);
        memset(copy + sb.size, 0xc0, junk);
        cds_error err;
        assert_int_equal(parse(copy, sb.size + junk, &err), CDS_EBADREQ);
        assert_non_null(strstr(err.message, "trailing"));
        free(copy);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void huge_counts_are_rejected_before_allocating(void **s)
{
    (void)s;
    static const unsigned char cases[][16] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},   /* array32 of 2^32-1 */
        {0xdf, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},   /* map32 */
        {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 0, 0}, /* str32 of 4 GiB */
        {0xc6, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},   /* bin32 */
        {0x81, 0xa1, 'a', 0xdd, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, /* nested */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cds_error err;
        assert_int_equal(parse((const char *)cases[i], 16, &err), CDS_EBADREQ);
        assert_non_null(strstr(err.message, "more"));
    }
}

static void deep_nesting_is_bad_request_not_out_of_memory(void **s)
{
    (void)s;
    static const size_t depths[] = {CDS_MP_MAX_DEPTH, CDS_MP_MAX_DEPTH + 1, 33, 64, 1000, 100000};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        size_t n = depths[d];
        char *buf = malloc(n + 1);
        memset(buf, 0x91, n);   /* fixarray of 1 element, nested */
        buf[n] = (char)0xc0;
        cds_error err;
        cds_error_clear(&err);
        msgpack_unpacked u;
        cds_rc rc = cds_mp_decode(buf, n + 1, &u, &err);
        if (n <= CDS_MP_MAX_DEPTH) {
            assert_int_equal(rc, CDS_OK);   /* legal depth: msgpack-c must unpack it */
            msgpack_unpacked_destroy(&u);
        } else {
            assert_int_equal(rc, CDS_EBADREQ);
            assert_non_null(strstr(err.message, "nesting"));
        }
        free(buf);
    }
}

/* A NUL inside a string would cut it short where it becomes a C string (two patient ids, or a
 * drug code and a code with junk after it, collapsing into one). Every length is tried, so the
 * word-at-a-time scan is checked at each position, including the last bytes of the message. */
static void strings_with_a_nul_byte_are_refused(void **s)
{
    (void)s;
    for (size_t len = 1; len <= 80; len++) {
        for (size_t at = 0; at < len; at++) {
            unsigned char buf[128];
            size_t k = 0;
            buf[k++] = 0x81;   /* {"patientId": <str>} */
            buf[k++] = 0xa9;
            memcpy(buf + k, "patientId", 9);
            k += 9;
            buf[k++] = 0xd9;
            buf[k++] = (unsigned char)len;
            memset(buf + k, 'x', len);
            buf[k + at] = 0;
            k += len;
            msgpack_unpacked u;
            cds_error err;
            assert_int_equal(cds_mp_decode((const char *)buf, k, &u, &err), CDS_EBADREQ);
            assert_non_null(strstr(err.message, "NUL byte"));
            assert_string_equal(err.path, "patientId");
            buf[k - len + at] = 'x';   /* the same without the NUL decodes */
            assert_int_equal(cds_mp_decode((const char *)buf, k, &u, &err), CDS_OK);
            msgpack_unpacked_destroy(&u);
        }
    }
    const unsigned char key[] = {0x81, 0xa3, 'a', 0, 'b', 0xc0};   /* in a key */
    msgpack_unpacked u;
    cds_error err;
    assert_int_equal(cds_mp_decode((const char *)key, sizeof key, &u, &err), CDS_EBADREQ);
    assert_non_null(strstr(err.message, "string contains a NUL byte (a map key)"));
}

/* Malformed UTF-8 would reach the JSON the HTTP gateway writes. */
static void strings_that_are_not_utf8_are_refused(void **s)
{
    (void)s;
    static const struct { const char *bytes; bool ok; } cases[] = {
        {"plain ascii", true}, {"caf\xc3\xa9", true}, {"\xe2\x82\xac 20", true}, {"\xf0\x9f\x92\x8a pill", true},
        {"\xed\x9f\xbf", true},                 /* U+D7FF, just below the surrogates */
        {"\xf4\x8f\xbf\xbf", true},             /* U+10FFFF */
        {"caf\xe9", false},                      /* Latin-1 */
        {"\xc3", false},                         /* cut short */
        {"ab\xe2\x82", false},                   /* cut short at the end */
        {"\xc0\xaf", false}, {"\xe0\x80\xaf", false}, {"\xf0\x80\x80\xaf", false},   /* overlong '/' */
        {"\xed\xa0\x80", false},                 /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", false},             /* past U+10FFFF */
        {"\x80 stray continuation", false}, {"\xff", false},
        {"a long ascii prefix of more than sixty-four bytes, then a bad byte: \xfe", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char buf[160];
        size_t n = strlen(cases[i].bytes), k = 0;
        buf[k++] = 0x81;
        buf[k++] = 0xa4;
        memcpy(buf + k, "name", 4);
        k += 4;
        buf[k++] = 0xd9;
        buf[k++] = (unsigned char)n;
        memcpy(buf + k, cases[i].bytes, n);
        k += n;
        msgpack_unpacked u;
        cds_error err;
        cds_rc rc = cds_mp_decode((const char *)buf, k, &u, &err);
        if (cases[i].ok) {
            if (rc != CDS_OK) fail_msg("case %zu refused: %s", i, err.message);
            msgpack_unpacked_destroy(&u);
        } else {
            if (rc != CDS_EBADREQ) fail_msg("case %zu accepted", i);
            assert_non_null(strstr(err.message, "not valid UTF-8"));
            assert_string_equal(err.path, "name");
        }
    }
}

static void map_keys_must_be_strings(void **s)
{
    (void)s;
    const unsigned char buf[] = {0x81, 0x01, 0x02};
    cds_error err;
    assert_int_equal(parse((const char *)buf, sizeof buf, &err), CDS_EBADREQ);
    assert_non_null(strstr(err.message, "key"));
}

static void random_bytes_never_crash(void **s)
{
    (void)s;
    srand(7);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % 64);
        char *buf = malloc(n ? n : 1);
        for (size_t k = 0; k < n; k++) buf[k] = (char)(rand() & 0xff);
        cds_error err;
        cds_rc rc = parse(buf, n, &err);
        assert_true(rc == CDS_OK || rc == CDS_EBADREQ);
        free(buf);
    }
}

static void malformed_json_says_where(void **s)
{
    (void)s;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_error err;
    const char *bad = "{\n  \"hook\": \"order-sign\",\n  \"context\": {,}\n}";
    assert_int_equal(cds_json_to_mp(bad, strlen(bad), "req.json", &sb, &err), CDS_EBADREQ);
    assert_non_null(strstr(err.message, "req.json: line 3"));
    assert_non_null(strstr(err.message, "malformed JSON"));
    /* past cJSON's nesting limit the reason is the depth, not "malformed" (a string holding
     * brackets does not count) */
    size_t n = 3000;
    char *deep = malloc(2 * n + 32);
    size_t k = (size_t)sprintf(deep, "[\"[[[{\",");
    for (size_t i = 0; i < n; i++) deep[k++] = '[';
    for (size_t i = 0; i < n; i++) deep[k++] = ']';
    deep[k++] = ']';
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(cds_json_to_mp(deep, k, "body", &sb, &err), CDS_EBADREQ);
    if (!strstr(err.message, "body: line 1 column 1008: nesting deeper than 1000 levels")) fail_msg("%s", err.message);
    free(deep);
    /* \u0000 would cut a string short ("p\u0000x" became "p"); an escaped backslash before
     * "u0000" is just text */
    const char *nul = "{\"patientId\": \"p\\u0000x\"}";
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(cds_json_to_mp(nul, strlen(nul), "body", &sb, &err), CDS_EBADREQ);
    if (!strstr(err.message, "body: line 1 column 17: strings may not contain \\u0000")) fail_msg("%s", err.message);
    const char *text = "{\"note\": \"C:\\\\u0000\"}";
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(cds_json_to_mp(text, strlen(text), "body", &sb, &err), CDS_OK);
    msgpack_sbuffer_destroy(&sb);
}

/* Issue 22 item 8: a raw NUL byte cut strings silently ("order-sign\0 -- anything" was read as
 * order-sign) and hid whatever followed it; it is refused with the path of the field. */
static void a_raw_nul_byte_is_refused_with_its_path(void **s)
{
    (void)s;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_error err;
#define J(text) text, sizeof text - 1   /* the length of a literal holding NULs */
    static const struct { const char *json; size_t len; const char *path; } cases[] = {
        {J("{\"hook\":\"order-sign\0 -- anything\"}"), "$.hook"},
        {J("{\"context\":{\"userId\":\"u\",\"patientId\":\"p-1\0p-2\"}}"), "$.context.patientId"},
        {J("{\"a\":[1,{\"b\":[\"x\",\"y\0\"]}]}"), "$.a[1].b[1]"},
        {J("{\"ho\0ok\":1}"), "$.ho"},
        {J("{\"hook\":\"order-sign\"}\0{\"trailing\":\"garbage\"}"), "$"},
        {J("{\"hook\":\"order-sign\"}\0"), "$"},
    };
#undef J
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer_clear(&sb);
        cds_rc rc = cds_json_to_mp(cases[i].json, cases[i].len, "body", &sb, &err);
        if (rc != CDS_EBADREQ) fail_msg("case %zu: accepted", i);
        if (!strstr(err.message, "raw NUL byte")) fail_msg("case %zu: %s", i, err.message);
        if (strcmp(err.path, cases[i].path)) fail_msg("case %zu: path %s, not %s", i, err.path, cases[i].path);
    }
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_request_parses),
        cmocka_unit_test(every_required_field_missing_is_named),
        cmocka_unit_test(every_field_of_a_wrong_type_is_named),
        cmocka_unit_test(draft_orders_must_be_a_bundle),
        cmocka_unit_test(not_a_map_is_rejected),
        cmocka_unit_test(every_truncation_of_a_good_request_is_rejected),
        cmocka_unit_test(huge_counts_are_rejected_before_allocating),
        cmocka_unit_test(deep_nesting_is_bad_request_not_out_of_memory),
        cmocka_unit_test(strings_with_a_nul_byte_are_refused),
        cmocka_unit_test(a_raw_nul_byte_is_refused_with_its_path),
        cmocka_unit_test(strings_that_are_not_utf8_are_refused),
        cmocka_unit_test(map_keys_must_be_strings),
        cmocka_unit_test(random_bytes_never_crash),
        cmocka_unit_test(malformed_json_says_where),
    };
    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
