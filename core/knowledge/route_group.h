/* route_group.h — the route groups dose and route knowledge is written in (oral, iv, intrathecal,
 * ...), and the mapping from SNOMED CT route codes and route text to them. Shared by `kb build`
 * (validating the dosing tables) and the clinical view (reading Dosage.route). */
#ifndef CDS_ROUTE_GROUP_H
#define CDS_ROUTE_GROUP_H

#include <stdbool.h>

/* The canonical group name ("oral") when name is one of the groups, else NULL. */
const char *cds_route_group_name(const char *name);
/* The group of a SNOMED CT route code ("47625008" -> "iv"), or NULL. */
const char *cds_route_group_snomed(const char *code);
/* The group named by free text ("IV", "by mouth", "Intrathecal route", "Oral Tablet"), or NULL.
 * Whole words, case-insensitive; the first group named wins. */
const char *cds_route_group_text(const char *text);

#endif
