/* fuzz_http_head.c — fuzz target for what the HTTP gateway judges from a request's head before
 * reading its body (rpc/net/http_admission.c): the framing headers (Content-Length variants,
 * Transfer-Encoding), the media type, and the path's percent-decoding. The input is a request
 * head as sent: "METHOD PATH VERSION" then "Name: value" lines. Invariants checked besides the
 * sanitizers': the decoded path never holds a NUL or a slash that was encoded, and is never
 * longer than the raw one; a sound framing has one agreed Content-Length, or none.
 * Built like fuzz_request; `fuzz_http_head_replay` replays tests/fuzz/corpus-http. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_admission.h"

#define FUZZ_CLEANUP() ((void)0)

/* Decodes the path and checks the decoder's invariants. */
static void check_path(char *path)
{
    size_t raw_len = strlen(path);
    char *raw = strdup(path);
    size_t n = cds_http_unescape(NULL, NULL, path);
    if (n > raw_len || strlen(path) != n) abort();          /* no NUL made, never longer */
    size_t raw_slashes = 0, slashes = 0, raw_escapes = 0;
    for (const char *p = raw; *p; p++) raw_slashes += *p == '/';
    for (const char *p = path; *p; p++) slashes += *p == '/';
    if (slashes != raw_slashes) abort();                    /* %2F stays encoded */
    for (const char *p = raw; *p; p++) raw_escapes += *p == '%';
    if (raw_escapes == 0 && strcmp(raw, path)) abort();     /* nothing to decode: unchanged */
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *head = malloc(size + 1);
    memcpy(head, data, size);
    head[size] = '\0';   /* a NUL in the input ends the head, as for the C strings MHD hands over */
    cds_http_framing f = CDS_HTTP_FRAMING_INIT;
    long long first = -1;
    int lengths = 0;
    char *save = NULL;
    int line_no = 0;
    for (char *line = strtok_r(head, "\n", &save); line; line = strtok_r(NULL, "\n", &save), line_no++) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = '\0';
        if (line_no == 0) {   /* request line: the path is its second word */
            char *sp = strchr(line, ' ');
            if (sp) {
                char *end = strchr(sp + 1, ' ');
                if (end) *end = '\0';
                check_path(sp + 1);
            }
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t') value++;
        if (!strcasecmp(line, "Content-Type")) (void)cds_http_is_json(value);
        if (!strcasecmp(line, "Content-Length") && !f.error) {
            lengths++;
            if (first < 0) first = strtoll(value, NULL, 10);
        }
        cds_http_framing_add(&f, line, value);
    }
    const char *error = cds_http_framing_end(&f);
    if (!error && lengths > 0 && f.length != first) abort();   /* accepted: the one length every header gave */
    if (!error && lengths == 0 && f.length != -1) abort();
    free(head);
    return 0;
}

#include "fuzz_replay.h"
