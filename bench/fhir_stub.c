/* fhir_stub.c — a FHIR server that answers after a delay (see fhir_stub.h). */
#include "fhir_stub.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fhir_stub {
    struct MHD_Daemon *d;
    int delay_ms;
    atomic_ulong answered;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    fhir_stub *s = cls;
    usleep((useconds_t)s->delay_ms * 1000);
    char body[256];
    if (!strncmp(url, "/fhir/Patient/", 14))
        snprintf(body, sizeof body, "{\"resourceType\":\"Patient\",\"id\":\"%.64s\",\"birthDate\":\"1960-01-01\"}", url + 14);
    else
        snprintf(body, sizeof body, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[]}");
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/fhir+json");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&s->answered, 1);
    return ret;
}

fhir_stub *fhir_stub_start(int port, int delay_ms)
{
    fhir_stub *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->delay_ms = delay_ms;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL, NULL,
                            handle, s, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return NULL;
    }
    return s;
}

unsigned long fhir_stub_answered(fhir_stub *s) { return atomic_load(&s->answered); }

void fhir_stub_stop(fhir_stub *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
