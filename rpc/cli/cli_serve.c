/* cli_serve.c — `cdsd serve` options. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "jwt_verify.h"
#include "server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cdsd serve [--listen URL] [--rules DIR] [--state DIR] [--workers N] [--max-request BYTES]\n"
            "                  [--deadline MS] [--queue N] [--fixtures DIR|none] [--log-level LEVEL]\n"
            "                  [--tls-cert PEM --tls-key PEM [--tls-ca PEM]] [--http ADDR:PORT ...]\n"
            "  --listen URL        NNG URL (default tcp://127.0.0.1:7411; ipc://PATH, tls+tcp://HOST:PORT)\n"
            "  --rules DIR         rule set (default ./rules)\n"
            "  --state DIR         knowledge base and admin socket (default ./var)\n"
            "  --workers N         evaluation threads (default: one per core)\n"
            "  --max-request B     largest request accepted (default 4194304)\n"
            "  --deadline MS       per-request deadline; later answers become 'timeout' (default 250)\n"
            "  --queue N           requests waiting for a worker before 'overloaded' (default 64)\n"
            "  --fixtures DIR      fixtures a reload must pass (default ./fixtures when present)\n"
            "  --log-level L       error, warn, info (default) or debug\n"
            "  --audit-sync MODE   normal (default: survives a crash) or full (also survives power loss)\n"
            "  --audit-requests    keep whole requests in var/audit.db for replay (contains PHI)\n"
            "  --http ADDR:PORT    also serve CDS Hooks over HTTP/JSON (loopback only without --jwt-issuer)\n"
            "  --http-max-buffered B  request bodies all HTTP connections together may hold; beyond, 503 with\n"
            "                      Retry-After (default 67108864; at least --max-request)\n"
            "  --cors-origin LIST  comma-separated origins allowed to call the HTTP gateway from a browser\n"
            "  --jwt-issuer ISS=JWKS_FILE  trust JWTs from ISS signed by a key in JWKS_FILE (repeatable)\n"
            "  --jwt-jku URL       a jku header value to accept (repeatable; keys are never fetched)\n"
            "  --public-url URL    the gateway's URL as clients call it (JWT aud), e.g. https://cds.example.org;\n"
            "                      repeat it (or separate with commas) for every name clients use\n"
            "  --tls-ca PEM        with tls+tcp://: require client certificates signed by this CA\n"
            "  --fetch-timeout MS  cap on fetching absent prefetch from the client's FHIR server (default 2000;\n"
            "                      always inside --deadline)\n"
            "  --fetch-pages N     searchset pages followed per prefetch key (default 10)\n"
            "SIGHUP or 'cdsd reload' reloads the rules; SIGTERM/SIGINT drain and exit.\n");
}

int cli_serve(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cds_server_opts o = {.listen = "tcp://127.0.0.1:7411", .rules = CLI_DEFAULT_RULES, .state = "var",
                         .fixtures = "fixtures", .workers = ncpu > 0 ? (int)ncpu : 2, .max_request = 4u << 20,
                         .http_max_buffered = CDS_HTTP_DEFAULT_MAX_BUFFERED,
                         .deadline_ms = 250, .queue = 64, .summary_s = 60,
                         .fetch = {.timeout_ms = 2000, .max_pages = 10, .max_bytes = 4u << 20}};
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"rules", required_argument, 0, 'r'},
        {"state", required_argument, 0, 's'}, {"workers", required_argument, 0, 'w'},
        {"max-request", required_argument, 0, 'm'}, {"deadline", required_argument, 0, 'd'},
        {"queue", required_argument, 0, 'q'}, {"fixtures", required_argument, 0, 'f'},
        {"log-level", required_argument, 0, 'v'}, {"tls-cert", required_argument, 0, 'C'},
        {"tls-key", required_argument, 0, 'K'}, {"tls-ca", required_argument, 0, 'A'},
        {"summary-interval", required_argument, 0, 'S'}, {"audit-sync", required_argument, 0, 'Y'},
        {"audit-requests", no_argument, 0, 'R'}, {"http", required_argument, 0, 'H'},
        {"cors-origin", required_argument, 0, 'O'}, {"jwt-issuer", required_argument, 0, 'J'},
        {"jwt-jku", required_argument, 0, 'U'}, {"public-url", required_argument, 0, 'P'},
        {"fetch-timeout", required_argument, 0, 'T'}, {"fetch-pages", required_argument, 0, 'G'},
        {"http-max-buffered", required_argument, 0, 'B'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'r': o.rules = optarg; break;
        case 's': o.state = optarg; break;
        case 'w': o.workers = atoi(optarg); break;
        case 'm': o.max_request = strtoul(optarg, NULL, 10); break;
        case 'd': o.deadline_ms = atoi(optarg); break;
        case 'q': o.queue = atoi(optarg); break;
        case 'f': o.fixtures = optarg; break;
        case 'S': o.summary_s = atoi(optarg); break;
        case 'Y':
            if (strcmp(optarg, "full") && strcmp(optarg, "normal")) { fprintf(stderr, "cdsd serve: --audit-sync full|normal\n"); return 2; }
            o.audit_sync_full = strcmp(optarg, "full") == 0;
            break;
        case 'R': o.audit_requests = true; break;
        case 'H': o.http = optarg; break;
        case 'O': o.cors_origins = optarg; break;
        case 'B': o.http_max_buffered = strtoul(optarg, NULL, 10); break;
        case 'J': {
            char err[300];
            if (!o.jwt) o.jwt = cds_jwt_new();
            if (!cds_jwt_add_issuer(o.jwt, optarg, err, sizeof err)) {
                fprintf(stderr, "cdsd serve: %s\n", err);
                cds_jwt_free(o.jwt);
                return 2;
            }
            break;
        }
        case 'U':
            if (!o.jwt) o.jwt = cds_jwt_new();
            if (!cds_jwt_allow_jku(o.jwt, optarg)) {
                fprintf(stderr, "cdsd serve: --jwt-jku: out of memory\n");
                cds_jwt_free(o.jwt);
                return 2;
            }
            break;
        case 'P':   /* repeatable, or comma-separated: every name clients may call the gateway by */
            for (char *u = strtok(optarg, ","); u; u = strtok(NULL, ",")) {
                if (o.npublic_urls == CDS_HTTP_MAX_PUBLIC_URLS) {
                    fprintf(stderr, "cdsd serve: at most %d --public-url values\n", CDS_HTTP_MAX_PUBLIC_URLS);
                    cds_jwt_free(o.jwt);
                    return 2;
                }
                o.public_urls[o.npublic_urls++] = u;
            }
            break;
        case 'T': o.fetch.timeout_ms = atoi(optarg); break;
        case 'G': o.fetch.max_pages = atoi(optarg); break;
        case 'C': o.tls_cert = optarg; break;
        case 'K': o.tls_key = optarg; break;
        case 'A': o.tls_ca = optarg; break;
        case 'v': {
            int l = cds_log_parse_level(optarg);
            if (l < 0) { fprintf(stderr, "cdsd serve: unknown log level '%s'\n", optarg); return 2; }
            cds_log_set_level((cds_log_level)l);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.workers < 1 || o.queue < 1 || o.deadline_ms < 1 || o.max_request < 1024 || o.fetch.timeout_ms < 1 ||
        o.fetch.max_pages < 1) {
        fprintf(stderr, "cdsd serve: --workers, --queue, --deadline, --fetch-timeout and --fetch-pages must be positive, "
                        "--max-request >= 1024\n");
        return 2;
    }
    if (o.http_max_buffered < o.max_request) {
        fprintf(stderr, "cdsd serve: --http-max-buffered must be at least --max-request (%zu)\n", o.max_request);
        return 2;
    }
    struct stat st;
    if (strcmp(o.fixtures, "none") == 0 || stat(o.fixtures, &st) != 0) o.fixtures = NULL;
    int status = cds_server_run(&o);
    cds_jwt_free(o.jwt);
    return status;
}
