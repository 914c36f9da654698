/* cli_call.c — `cdsd call` and `cdsd reload`. */
#include <getopt.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "json.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd call [--connect URL[,URL...]]... [--timeout MS] OP [SERVICE] [REQUEST.json|-]\n"
               "  OP is discover, call, feedback or health. Prints the reply as JSON.\n"
               "  Several --connect URLs (repeated or comma-separated) are replicas: the call goes to one that\n"
               "  is up, and is sent to another if its connection drops.\n"
               "  Exit status: 0 ok, 1 error reply, 2 transport failure.\n");
}

int cli_call(int argc, char **argv)
{
    char url[2048] = "";
    int timeout = 5000;
    static const struct option opts[] = {{"connect", required_argument, 0, 'c'}, {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
        if (c == 'c') {
            size_t l = strlen(url);
            if (l + strlen(optarg) + 2 > sizeof url) { fprintf(stderr, "cdsd call: too many --connect URLs\n"); return 2; }
            snprintf(url + l, sizeof url - l, "%s%s", l ? "," : "", optarg);
        }
        else if (c == 't') timeout = atoi(optarg);
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (!url[0]) snprintf(url, sizeof url, "tcp://127.0.0.1:7411");
    int left = argc - optind;
    if (left < 1 || left > 3) { usage(stderr); return 2; }
    const char *op = argv[optind], *service = left >= 2 ? argv[optind + 1] : NULL;
    const char *file = left == 3 ? argv[optind + 2] : NULL;
    char *json = NULL;
    if (file) {
        cds_error err;
        cds_error_clear(&err);
        json = cds_read_file(file, NULL, 64u << 20, &err);
        if (!json) { fprintf(stderr, "cdsd call: %s\n", err.message); return 2; }
    }
    cds_client *cl;
    int rv = cds_client_open(&cl, url, timeout);
    if (rv) {
        fprintf(stderr, "cdsd call: %s: %s\n", url, cds_client_strerror(rv));
        free(json);
        return 2;
    }
    char *reply;
    size_t n;
    rv = cds_client_call_json(cl, op, service, json, &reply, &n);
    cds_client_close(cl);
    free(json);
    if (rv) {
        fprintf(stderr, "cdsd call: %s: %s\n", url, cds_client_strerror(rv));
        return 2;
    }
    puts(reply);
    int status = strstr(reply, "\"ok\": true") ? 0 : 1;
    free(reply);
    return status;
}

int cli_reload(int argc, char **argv)
{
    const char *state = "var";
    static const struct option opts[] = {{"state", required_argument, 0, 's'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else { fprintf(stderr, "usage: cdsd reload [--state DIR]\n"); return 2; }
    }
    char url[1100];
    snprintf(url, sizeof url, "ipc://%s/admin.sock", state);
    nng_socket s;
    int rv = nng_req0_open(&s);
    if (!rv) {
        nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 120000);
        rv = nng_dial(s, url, NULL, 0);
    }
    char *buf = NULL;
    size_t n = 0;
    if (!rv) rv = nng_send(s, "reload", 6, 0);
    if (!rv) rv = nng_recv(s, &buf, &n, NNG_FLAG_ALLOC);
    if (rv) {
        fprintf(stderr, "cdsd reload: %s: %s (is 'cdsd serve --state %s' running?)\n", url, nng_strerror(rv), state);
        nng_close(s);
        return 2;
    }
    printf("reload: %.*s\n", (int)n, buf);
    int status = n == 2 && memcmp(buf, "ok", 2) == 0 ? 0 : 1;
    nng_free(buf, n);
    nng_close(s);
    return status;
}
