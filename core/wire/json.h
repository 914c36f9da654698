/* json.h — the JSON edge: JSON text <-> MessagePack, mechanically (maps mirror objects).
 * The core speaks only MessagePack; JSON is converted here, at the edge. */
#ifndef CDS_JSON_H
#define CDS_JSON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strbuf.h"

/* Parses JSON text and appends its MessagePack form to `out`. Errors: CDS_EBADREQ with
 * "line L column C" in the message. `what` names the input in messages (a file name). */
cds_rc cds_json_to_mp(const char *json, size_t len, const char *what, msgpack_sbuffer *out, cds_error *err);

/* The fast path of cds_json_to_mp (json_direct.c): converts text in a conservative subset of
 * well-formed JSON without building a tree, writing exactly what the cJSON path writes. False
 * (nothing appended) for anything else, which the cJSON path then judges and names. */
bool cds_json_to_mp_direct(const char *json, size_t len, msgpack_sbuffer *out);

struct cJSON;
/* Packs an already parsed cJSON value. */
void cds_cjson_pack(msgpack_packer *pk, const struct cJSON *j);

/* Appends `o` as JSON text. `indent` < 0 for compact output, else spaces per level. */
void cds_json_from_mp(cds_strbuf *b, const msgpack_object *o, int indent);

/* Reads a whole file into a NUL-terminated heap buffer (caller frees). NULL + err on failure. */
char *cds_read_file(const char *path, size_t *len, size_t max, cds_error *err);

#endif
