/* cdsd_http.h — for integration tests that start `cdsd serve --http` (header-only, libcurl):
 * waiting for the gateway, and whether the server's log holds a sanitizer report. */
#ifndef CDS_TEST_CDSD_HTTP_H
#define CDS_TEST_CDSD_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* True once GET base/health answers (up to 10 s). */
static inline bool cdsd_http_wait(const char *base)
{
    char health[256];
    snprintf(health, sizeof health, "%s/health", base);
    for (int i = 0; i < 100; i++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, health);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        CURLcode rc = curl_easy_perform(h);
        curl_easy_cleanup(h);
        if (rc == CURLE_OK) return true;
        usleep(100000);
    }
    return false;
}

/* Under ASan/UBSan the server reports leaks and undefined behaviour in its log at exit: true
 * when the log has no such report (else it says where the report is). */
static inline bool cdsd_log_clean(const char *log)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "grep -q 'Sanitizer\\|runtime error' '%s'", log);
    bool clean = system(cmd) != 0;
    if (!clean) fprintf(stderr, "sanitizer report in %s\n", log);
    return clean;
}

#endif
