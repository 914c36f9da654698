/* fuzz_json.c — fuzz target for a CDS Hooks request arriving as JSON (the HTTP gateway, cdsd
 * eval, fixtures): JSON -> MessagePack (cJSON, our NUL and nesting checks), then the same
 * pipeline as fuzz_request. Malformed JSON must be a bad_request, never anything else, and
 * whatever the tree-less fast path (json_direct.c) converts must be byte for byte what cJSON's
 * tree gives.
 * Built like fuzz_request (replay driver by default; libFuzzer or AFL++ with -DCDSD_FUZZ=ON);
 * `fuzz_json_replay` replays the fixture requests with every prefix and byte flips. */
#include <cjson/cJSON.h>

#include "fuzz_pipeline.h"
#include "json.h"

/* The fast path against cJSON on the same text: equal bytes whenever it converts. */
static void direct_matches_cjson(const char *text, size_t size)
{
    msgpack_sbuffer direct;
    msgpack_sbuffer_init(&direct);
    if (cds_json_to_mp_direct(text, size, &direct)) {
        cJSON *root = cJSON_ParseWithLength(text, size);
        if (!root) abort();   /* converted what cJSON refuses */
        msgpack_sbuffer tree;
        msgpack_sbuffer_init(&tree);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &tree, msgpack_sbuffer_write);
        cds_cjson_pack(&pk, root);
        cJSON_Delete(root);
        if (tree.size != direct.size || memcmp(tree.data, direct.data, tree.size)) abort();
        msgpack_sbuffer_destroy(&tree);
    }
    msgpack_sbuffer_destroy(&direct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    direct_matches_cjson((const char *)data, size);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_error err;
    cds_rc rc = cds_json_to_mp((const char *)data, size, "request", &sb, &err);
    if (rc != CDS_OK && rc != CDS_EBADREQ) abort();
    if (rc == CDS_OK) fuzz_msgpack_request((const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

#include "fuzz_replay.h"
