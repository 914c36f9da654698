/* fhir_build.h — building synthetic FHIR JSON (cJSON) for fixtures and benchmarks. */
#ifndef CDS_FHIR_BUILD_H
#define CDS_FHIR_BUILD_H

#include <cjson/cJSON.h>

/* An empty searchset Bundle, the shape prefetch results arrive in. */
cJSON *cds_fhir_bundle(void);

/* Appends {"resource": r} to the bundle's entries; the bundle takes r. */
void cds_fhir_bundle_add(cJSON *bundle, cJSON *r);

#endif
