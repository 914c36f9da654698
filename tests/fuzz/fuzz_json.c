/* fuzz_json.c — fuzz target for a CDS Hooks request arriving as JSON (the HTTP gateway, cdsd
 * eval, fixtures): JSON -> MessagePack (cJSON, our NUL and nesting checks), then the same
 * pipeline as fuzz_request. Malformed JSON must be a bad_request, never anything else.
 * Built like fuzz_request (replay driver by default; libFuzzer or AFL++ with -DCDSD_FUZZ=ON);
 * `fuzz_json_replay` replays the fixture requests with every prefix and byte flips. */
#include "fuzz_pipeline.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
