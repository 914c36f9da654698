/* cli_eval.c — `cdsd eval [--rules DIR] [--at RFC3339] SERVICE REQUEST.json` */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "engine.h"
#include "json.h"
#include "mp.h"
#include "view.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd eval [--rules DIR] [--at RFC3339] SERVICE REQUEST.json|-\n"
               "Evaluates one CDS Hooks request (JSON) and prints the CDS Hooks response.\n"
               "  --rules DIR   rule set directory (default ./rules)\n"
               "  --at TIME     evaluation time, e.g. 2025-03-01T09:00:00Z (default: now)\n");
}

static void print_error(const cds_error *err)
{
    cds_strbuf b;
    cds_strbuf_init(&b);
    cds_strbuf_puts(&b, "{\"code\": ");
    const char *code = cds_rc_name(err->code);
    cds_strbuf_json_string(&b, code, strlen(code));
    cds_strbuf_puts(&b, ", \"message\": ");
    cds_strbuf_json_string(&b, err->message, strlen(err->message));
    if (err->path[0]) {
        cds_strbuf_puts(&b, ", \"path\": ");
        cds_strbuf_json_string(&b, err->path, strlen(err->path));
    }
    cds_strbuf_puts(&b, "}\n");
    fputs(b.data, stderr);
    cds_strbuf_free(&b);
}

int cli_eval(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES, *at = NULL;
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"at", required_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:a:h", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else if (c == 'a') at = optarg;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (argc - optind != 2) { usage(stderr); return 2; }
    const char *service = argv[optind], *file = argv[optind + 1];
    time_t now = time(NULL);
    if (at && !cds_parse_time(at, &now)) {
        fprintf(stderr, "cdsd eval: --at '%s' is not an RFC3339 time\n", at);
        return 2;
    }
    cds_error err;
    cds_error_clear(&err);
    size_t len;
    char *json = cds_read_file(file, &len, 64u << 20, &err);
    if (!json) { fprintf(stderr, "cdsd eval: %s\n", err.message); return 2; }
    cds_ruleset *rs = cli_load_rules(rules, NULL, false);
    if (!rs) { free(json); return 2; }
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = cds_engine_new(rs, &diag);
    int status = 1;
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    msgpack_unpacked req, resp;
    msgpack_unpacked_init(&req);
    msgpack_unpacked_init(&resp);
    cds_arena arena;
    cds_arena_init(&arena);
    if (!e) {
        fprintf(stderr, "%s", diag.data ? diag.data : "");
        status = 2;
        goto done;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    cds_eval_info info;
    if (cds_json_to_mp(json, len, file, &in, &err) || cds_mp_decode(in.data, in.size, &req, &err) ||
        cds_engine_call(e, service, &req.data, "request", now, &arena, &pk, &info, &err) ||
        cds_mp_decode(out.data, out.size, &resp, &err)) {
        print_error(&err);
        goto done;
    }
    cds_strbuf b;
    cds_strbuf_init(&b);
    cds_json_from_mp(&b, &resp.data, 2);
    puts(b.data);
    cds_strbuf_free(&b);
    for (size_t i = 0; i < info.nruns; i++)
        if (info.runs[i].error) fprintf(stderr, "cdsd eval: rule %s failed: %s\n", info.runs[i].rule, info.runs[i].error);
    status = 0;
done:
    msgpack_unpacked_destroy(&req);
    msgpack_unpacked_destroy(&resp);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
    cds_arena_free(&arena);
    cds_engine_free(e);
    cds_strbuf_free(&diag);
    cds_ruleset_free(rs);
    free(json);
    return status;
}
