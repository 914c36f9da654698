/* fuzz_request.c — fuzz target for everything a request byte stream reaches before the rules:
 * the MessagePack decoder (checked against msgpack-c's unpacker), CDS Hooks validation, the clinical view and the C
 * screening, with the shipped knowledge base.
 *
 * Built two ways:
 *   - by default, a replay driver (ctest `fuzz_request_replay`): every file under the corpus
 *     directories given on the command line, plus every prefix and a set of byte flips of each,
 *     must come back as OK or bad_request without a sanitizer report;
 *   - with clang: cmake -DCDSD_FUZZ=ON -DCMAKE_C_COMPILER=clang gives a libFuzzer binary
 *     (build/fuzz_request corpus/ -max_total_time=300) whose finds belong in tests/fuzz/corpus/;
 *     with CC=afl-clang-fast the same option gives an AFL++ target (see README "Fuzzing"). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "mp.h"
#include "request.h"
#include "ruleset.h"
#include "screen.h"
#include "view.h"

static cds_ruleset *rs;

static void load_rules(void)
{
    if (rs) return;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts o = {0};
    if (cds_ruleset_load(CDSD_SOURCE_DIR "/rules", &o, &rs, &diag)) {
        fprintf(stderr, "%s", diag.data);
        abort();
    }
    cds_strbuf_free(&diag);
}

/* Whether two objects are the same, a NaN equal to the same NaN: msgpack_object_equal compares
 * floats with ==, so a NaN is never equal to itself (AFL++ found that in seconds); packed
 * again, equal objects give equal bytes. */
static int same_object(msgpack_object a, msgpack_object b)
{
    if (msgpack_object_equal(a, b)) return 1;
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    msgpack_packer px, py;
    msgpack_packer_init(&px, &x, msgpack_sbuffer_write);
    msgpack_packer_init(&py, &y, msgpack_sbuffer_write);
    msgpack_pack_object(&px, a);
    msgpack_pack_object(&py, b);
    int same = x.size == y.size && memcmp(x.data, y.data, x.size) == 0;
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_rules();
    msgpack_unpacked u;
    cds_error err;
    cds_rc rc = cds_mp_decode((const char *)data, size, &u, &err);
    if (rc != CDS_OK) {
        if (rc != CDS_EBADREQ) abort();   /* hostile input is bad_request, never anything else */
        return 0;
    }
    /* Differential: whatever our single-pass decoder accepts, msgpack-c's own unpacker reads
     * as the same object (it is safe to call once the bytes have been checked). */
    msgpack_unpacked ref;
    msgpack_unpacked_init(&ref);
    size_t off = 0;
    if (msgpack_unpack_next(&ref, (const char *)data, size, &off) != MSGPACK_UNPACK_SUCCESS || off != size ||
        !same_object(ref.data, u.data))
        abort();
    msgpack_unpacked_destroy(&ref);
    cds_arena a;
    cds_arena_init(&a);
    cds_request req;
    if (cds_request_parse(&u.data, "request", &a, &req, &err) == CDS_OK) {
        cds_view v;
        if (cds_view_build(&req, rs->kb, 1700000000, &a, &v, &err) == CDS_OK) {
            cds_ddi_hit *d;
            cds_allergy_hit *h;
            cds_screen_interactions(&v, &a, &d);
            cds_screen_allergies(&v, &a, &h);
        }
    }
    cds_arena_free(&a);
    msgpack_unpacked_destroy(&u);
    return 0;
}

#ifndef CDSD_LIBFUZZER
static size_t runs;

static void run(const unsigned char *buf, size_t n)
{
    /* exact-size copies so ASan sees any over-read */
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    runs++;
    for (size_t k = 0; k < n; k += 1 + n / 64) {          /* prefixes */
        LLVMFuzzerTestOneInput(copy, k);
        runs++;
    }
    unsigned seed = (unsigned)n;
    for (int f = 0; f < 256 && n; f++) {                   /* byte flips, including header bytes */
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % n;
        unsigned char old = copy[at];
        copy[at] = (unsigned char)(seed >> 24);
        LLVMFuzzerTestOneInput(copy, n);
        copy[at] = old;
        runs++;
    }
    free(copy);
}

static void walk(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char sub[2048];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            walk(sub);
        }
        if (d) closedir(d);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    run(buf, n);
    free(buf);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) walk(argv[i]);
    printf("%zu inputs replayed without a crash or a wrong error code\n", runs);
    cds_ruleset_free(rs);
    if (!runs) return 1;
    printf("1 passed, 0 failed\n");
    return 0;
}
#endif
