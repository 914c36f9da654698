/* suppress_store.h — what repeat suppression remembers (README "Repeat suppression"): which
 * alert (rule id + card key) each card showed to which patient (the audit log's pseudonymous
 * key, never the id) in which encounter, and the last override of each alert per patient.
 * One small interface, so a store shared by replicas could replace the local one; the local one
 * is SQLite ($STATE/suppress.db, WAL, 0600), every lookup an index hit. Thread-safe. */
#ifndef CDS_SUPPRESS_STORE_H
#define CDS_SUPPRESS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* What is known of one alert for one patient. */
typedef struct cds_suppress_seen {
    int64_t overridden_ms;    /* its last override (epoch ms), 0: never */
    char override_card[37];   /* the card that was overridden */
    bool shown_in_encounter;  /* shown in the encounter asked about, by another card */
} cds_suppress_seen;

typedef struct cds_suppress_store cds_suppress_store;
struct cds_suppress_store {
    /* The alert (rule, key) for patient; encounter NULL: not asked; card_uuid: the card being
     * decided (a retried call is not its own repeat). false on a store error (nothing known). */
    bool (*lookup)(cds_suppress_store *s, const char *patient, const char *rule, const char *key,
                   const char *encounter, const char *card_uuid, cds_suppress_seen *out);
    /* A card of the alert was shown (or demoted) at ms; encounter may be NULL. */
    bool (*note_shown)(cds_suppress_store *s, const char *patient, const char *rule, const char *key,
                       const char *encounter, const char *card_uuid, int64_t ms);
    /* The card was overridden at ms: its patient's alert counts as overridden from then. A card
     * the store never saw (a rule that does not suppress) is ignored. Durable when it returns. */
    bool (*note_override)(cds_suppress_store *s, const char *card_uuid, int64_t ms);
    void (*close)(cds_suppress_store *s);
};

/* Opens (creating, 0600) the SQLite store at path. NULL with the reason in err. */
cds_suppress_store *cds_suppress_sqlite_open(const char *path, cds_error *err);

#endif
