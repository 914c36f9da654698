/* fhir_build.c — building synthetic FHIR JSON (see fhir_build.h). */
#include "fhir_build.h"

cJSON *cds_fhir_bundle(void)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "resourceType", "Bundle");
    cJSON_AddStringToObject(b, "type", "searchset");
    cJSON_AddArrayToObject(b, "entry");
    return b;
}

void cds_fhir_bundle_add(cJSON *bundle, cJSON *r)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "resource", r);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(bundle, "entry"), e);
}
