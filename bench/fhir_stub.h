/* fhir_stub.h — a slow FHIR server for cdsd-bench's slow-fetch mode: every GET under /fhir is
 * answered after a fixed delay (a Patient for Patient/ID, an empty searchset Bundle otherwise),
 * one thread per connection so that any number of fetches wait at once. */
#ifndef CDS_BENCH_FHIR_STUB_H
#define CDS_BENCH_FHIR_STUB_H

typedef struct fhir_stub fhir_stub;

/* Listens on 127.0.0.1:port; NULL on failure. */
fhir_stub *fhir_stub_start(int port, int delay_ms);
/* Requests answered so far. */
unsigned long fhir_stub_answered(fhir_stub *s);
void fhir_stub_stop(fhir_stub *s);

#endif
