/* client.h — a small C client for cdsd's NNG REQ/REP protocol, for integration engines.
 *
 *   cds_client *c;
 *   if (cds_client_open(&c, "tcp://127.0.0.1:7411", 2000) == 0) {
 *       char *reply; size_t n;
 *       cds_client_call_json(c, "call", "medication-safety", request_json, &reply, &n);  // reply: JSON text
 *       free(reply);
 *       cds_client_close(c);
 *   }
 *
 * Return values: 0 on a reply (which may itself be {"ok": false, ...}), otherwise an NNG error
 * number (transport failure or timeout). Replies are malloc'd; the caller frees them. One
 * client is one REQ socket: use it from one thread at a time. */
#ifndef CDS_CLIENT_H
#define CDS_CLIENT_H

#include <stddef.h>

typedef struct cds_client cds_client;

/* urls: one NNG URL, or several separated by commas (replicas of one service): each is dialled
 * in the background, requests are spread over the connected ones, and a request whose
 * connection drops (a replica killed) is sent again on another at once. With one URL a request
 * is never sent twice. */
int cds_client_open(cds_client **out, const char *urls, int timeout_ms);
void cds_client_close(cds_client *c);

/* Sends a whole MessagePack envelope; *reply receives the MessagePack reply. */
int cds_client_call_mp(cds_client *c, const void *msg, size_t len, void **reply, size_t *reply_len);

/* Builds the envelope {"op", "service", "request" (from JSON text, may be NULL), "id"} and
 * returns the reply converted to JSON text. */
int cds_client_call_json(cds_client *c, const char *op, const char *service, const char *request_json,
                         char **reply_json, size_t *reply_len);

/* Human-readable text for a return value. */
const char *cds_client_strerror(int rv);

#endif
