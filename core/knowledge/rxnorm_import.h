/* rxnorm_import.h — builds the vocabulary tables (ingredients.tsv, products.tsv) from NLM's
 * monthly RxNorm release files, so a site can screen against the full RxNorm instead of the
 * corpus-compiled subset.
 *
 * RXNCONSO.RRF (pipe-delimited, 18 columns): RXCUI|LAT|TS|LUI|STT|SUI|ISPREF|RXAUI|SAUI|SCUI|
 *   SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF|. Rows with SAB=RXNORM and SUPPRESS=N are read.
 * RXNREL.RRF (16 columns): RXCUI1|RXAUI1|STYPE1|REL|RXCUI2|RXAUI2|STYPE2|RELA|RXRELID|SAB|SL|
 *   RG|DIR|SUPPRESS|CVF|. A row reads "RXCUI2 is RELA of RXCUI1" (e.g. PIN form_of IN,
 *   BN tradename_of IN, SCD consists_of SCDC, SCDC has_ingredient IN, GPCK contains SCD). */
#ifndef CDS_RXNORM_IMPORT_H
#define CDS_RXNORM_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strbuf.h"

typedef struct cds_rxnorm_counts { size_t ingredients, precise, brands, products, unmapped; } cds_rxnorm_counts;

/* Writes OUT_DIR/knowledge/ingredients.tsv and products.tsv. Problems ("FILE:LINE: ...") go to
 * diag; malformed rows are errors, unknown term types are ignored. */
cds_rc cds_rxnorm_import(const char *conso, const char *rel, const char *out_dir, bool progress, cds_strbuf *diag,
                         cds_rxnorm_counts *counts);

#endif
