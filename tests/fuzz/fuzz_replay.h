/* fuzz_replay.h — the replay driver shared by the fuzz targets (header-only): every file under
 * the directories given, plus every prefix and 256 byte flips of each, through the target's
 * LLVMFuzzerTestOneInput; built unless CDSD_LIBFUZZER (then libFuzzer or AFL++ drives it). */
#ifndef CDS_FUZZ_REPLAY_H
#define CDS_FUZZ_REPLAY_H

#include <dirent.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_CLEANUP   /* what the replay driver frees at the end (the pipeline's rule set) */
#define FUZZ_CLEANUP() cds_ruleset_free(rs)
#endif

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
    FUZZ_CLEANUP();
    if (!runs) return 1;
    printf("1 passed, 0 failed\n");
    return 0;
}
#endif

#endif
