/* test_utf8.c — cds_utf8_prefix (the check every rule result, reply and file goes through) with its
 * eight-bytes-at-a-time ASCII path gives what a byte-by-byte reading of RFC 3629 gives: every
 * well-formed and malformed sequence (overlong, surrogate, past U+10FFFF, cut short, stray
 * continuation) at every offset of ASCII runs of every length around the eight-byte step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

/* The reference: one byte at a time (the code before the ASCII path). */
static size_t reference(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) { need = 2; if (c == 0xe0) lo = 0xa0; else if (c == 0xed) hi = 0x9f; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; if (c == 0xf0) lo = 0x90; else if (c == 0xf4) hi = 0x8f; }
        else break;
        if (n - i <= need || p[i + 1] < lo || p[i + 1] > hi) break;
        size_t k = 2;
        while (k <= need && (p[i + k] & 0xc0) == 0x80) k++;
        if (k <= need) break;
        i += need + 1;
    }
    return i;
}

static void same_as_byte_by_byte(void **state)
{
    (void)state;
    static const char *const seqs[] = {
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf",   /* well formed */
        "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf0\x80\x80\xaf",           /* overlong, surrogate */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\x80", "\xbf",                      /* too high, stray */
        "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xe2\x28\xa1", "\xc3\x28",                      /* cut short, bad continuation */
    };
    unsigned char buf[64];
    int checked = 0;
    for (size_t s = 0; s < sizeof seqs / sizeof *seqs; s++) {
        size_t sl = strlen(seqs[s]);
        for (size_t before = 0; before <= 20; before++)
            for (size_t after = 0; after <= 20; after += 4) {
                size_t n = 0;
                for (size_t i = 0; i < before; i++) buf[n++] = (unsigned char)('a' + i % 26);
                memcpy(buf + n, seqs[s], sl);
                n += sl;
                for (size_t i = 0; i < after; i++) buf[n++] = (unsigned char)('A' + i % 26);
                size_t want = reference(buf, n), got = cds_utf8_prefix(buf, n);
                if (got != want) fail_msg("sequence %zu after %zu ASCII bytes: prefix %zu, want %zu", s, before, got, want);
                checked++;
            }
    }
    /* pure ASCII of every length, and a high byte at each position of it */
    for (size_t n = 0; n <= 40; n++) {
        memset(buf, 'x', n);
        assert_int_equal(cds_utf8_prefix(buf, n), n);
        for (size_t at = 0; at < n; at++) {
            buf[at] = 0x80;
            assert_int_equal(cds_utf8_prefix(buf, n), at);
            buf[at] = 'x';
        }
    }
    assert_true(checked > 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(same_as_byte_by_byte)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
