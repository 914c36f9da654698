/* test_json_direct.c — the tree-less JSON -> MessagePack path (core/wire/json_direct.c) writes
 * exactly what the cJSON path writes, for every request and fixture file of the repository and
 * for each escape and number shape; what it does not take (malformed, unusual or deep text) it
 * leaves to cJSON, so cds_json_to_mp's answers and error messages stay the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* cJSON's tree, packed: the reference. False when cJSON refuses the text. */
static bool reference(const char *json, size_t len, msgpack_sbuffer *out)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return false;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    cds_cjson_pack(&pk, root);
    cJSON_Delete(root);
    return true;
}

/* Converted directly (must_take) or possibly left to cJSON; when converted, the same bytes. */
static void same_as_cjson(const char *json, bool must_take)
{
    msgpack_sbuffer d, r;
    msgpack_sbuffer_init(&d);
    msgpack_sbuffer_init(&r);
    bool took = cds_json_to_mp_direct(json, strlen(json), &d);
    if (must_take && !took) fail_msg("not converted: %.200s", json);
    if (took) {
        if (!reference(json, strlen(json), &r)) fail_msg("converted what cJSON refuses: %.200s", json);
        if (r.size != d.size || memcmp(r.data, d.data, r.size)) fail_msg("different bytes for %.200s", json);
    } else {
        assert_int_equal(d.size, 0);
    }
    msgpack_sbuffer_destroy(&d);
    msgpack_sbuffer_destroy(&r);
}

static void left_to_cjson(const char *json)
{
    msgpack_sbuffer d;
    msgpack_sbuffer_init(&d);
    if (cds_json_to_mp_direct(json, strlen(json), &d)) fail_msg("converted: %s", json);
    assert_int_equal(d.size, 0);
    msgpack_sbuffer_destroy(&d);
}

static size_t files;

static void every_file_under(const char *dir)
{
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) {
            every_file_under(path);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".json")) continue;
        cds_error err;
        char *text = cds_read_file(path, NULL, 16u << 20, &err);
        assert_non_null(text);
        same_as_cjson(text, true);   /* well-formed, plain JSON: always the fast path */
        free(text);
        files++;
    }
    closedir(dd);
}

static void every_fixture_and_request_converts_to_the_same_bytes(void **s)
{
    (void)s;
    every_file_under(CDSD_SOURCE_DIR "/fixtures");
    assert_true(files > 100);
}

static void escapes_numbers_and_whitespace_convert_to_the_same_bytes(void **s)
{
    (void)s;
    static const char *const cases[] = {
        "{}", "[]", " { \"a\" : [ 1 , 2 ] }\n\r\t", "[{}, [], [[]], {\"\": {}}]", "null", "true", "false", "\"\"",
        "\"plain\"", "\"\\n\\t\\r\\b\\f\\\"\\\\\\/\"", "\"caf\\u00e9 \\u00E9\"", "\"\\u20ac \\u0041 \\u007f \\u0080 \\u07ff \\u0800\"",
        "\"\\ud83d\\ude00 (a surrogate pair)\"", "\"\\uffff\\uFFFD\"", "\"raw UTF-8: caf\xc3\xa9 \xe2\x80\x91\"",
        "{\"dup\": 1, \"dup\": 2}", "0", "-0", "1", "-1", "1.5", "-1.25e-2", "1e3", "1E+3", "2.0", "1e-400", "1e400",
        "123456789012345", "9007199254740991", "9007199254740992", "9007199254740993", "-9007199254740993",
        "123456789012345678901234567890", "0.1", "3.14159265358979323846", "[1,2.5,-3,4e2,\"x\",null,true,false]",
        "{\"a\":{\"b\":{\"c\":{\"d\":[[[[[1]]]]]}}}}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) same_as_cjson(cases[i], true);
}

static void unusual_or_malformed_text_is_left_to_cjson(void **s)
{
    (void)s;
    static const char *const cases[] = {
        "", "   ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "01", "+1", ".5", "1.", "1e", "-",
        "tru", "nul", "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\u12zz\"", "\"\\udc00 alone\"",
        "\"\\ud800 alone\"", "\"\\ud800\\u0041\"", "\"\\u0000\"", "\"a\x01 control\"", "\xef\xbb\xbf{}", "{}x",
        "[1]\v", "\v[1]", "1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        left_to_cjson(cases[i]);
        same_as_cjson(cases[i], false);
    }
    /* nesting deeper than the fast path goes (cJSON's own limit is far deeper) */
    char deep[2 * 200 + 1];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    deep[400] = '\0';
    left_to_cjson(deep);
    /* and cds_json_to_mp still names what is wrong, from cJSON */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_error err;
    assert_int_equal(cds_json_to_mp("{\"a\":1,}", 8, "body", &sb, &err), CDS_EBADREQ);
    assert_non_null(strstr(err.message, "body: line 1 column"));
    assert_int_equal(cds_json_to_mp(deep, 400, "body", &sb, &err), CDS_OK);   /* within cJSON's limit */
    msgpack_sbuffer_destroy(&sb);
}

/* The string scan reads eight bytes at a time: a quote, a backslash escape, a control character
 * or a UTF-8 byte at every offset of strings of every length up to three words, and a string cut
 * off at every length, convert (or are refused) as cJSON has them. */
static void string_bytes_at_every_offset_are_seen(void **s)
{
    (void)s;
    static const char *const inserts[] = {"\\\"", "\\\\", "\\n", "\\u00e9", "\xc3\xa9", "\x7f", "\xe2\x82\xac"};
    char json[128];
    for (size_t len = 0; len <= 24; len++)
        for (size_t at = 0; at <= len; at++)
            for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
                int n = snprintf(json, sizeof json, "[\"%.*s%s%.*s\",1]", (int)at, "abcdefghijklmnopqrstuvwxyz", inserts[k],
                                 (int)(len - at), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
                assert_true(n > 0 && (size_t)n < sizeof json);
                same_as_cjson(json, true);
                /* a control character there instead: refused here and by the fallback's rules */
                snprintf(json, sizeof json, "[\"%.*s\x01%.*s\"]", (int)at, "abcdefghijklmnopqrstuvwxyz", (int)(len - at),
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
                left_to_cjson(json);
            }
    for (size_t cut = 1; cut <= 24; cut++) {   /* no closing quote within the text */
        snprintf(json, sizeof json, "\"%.*s", (int)cut, "abcdefghijklmnopqrstuvwxyz");
        left_to_cjson(json);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_and_request_converts_to_the_same_bytes),
        cmocka_unit_test(escapes_numbers_and_whitespace_convert_to_the_same_bytes),
        cmocka_unit_test(unusual_or_malformed_text_is_left_to_cjson),
        cmocka_unit_test(string_bytes_at_every_offset_are_seen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
