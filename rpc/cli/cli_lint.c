/* cli_lint.c — `cdsd lint [--rules DIR]`: load and validate without running anything. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kb.h"

/* Interaction rows that match the same ingredient pair (a class row and an ingredient row, or
 * two class rows). ddi.interaction shows one card per pair of orders, the most severe row, and
 * lists the others; rows of different severity for one pair are an error (the table contradicts
 * itself: which one is right?), rows of equal severity a warning. Returns the error count. */
typedef struct overlap { uint32_t x, y, pairs, ga, gb; } overlap;

static int report_overlaps(const cds_kb *kb)
{
    overlap *ov = NULL;
    size_t nov = 0, cap = 0;
    uint32_t n = (uint32_t)cds_kb_ningredients(kb);
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = a + 1; b < n; b++) {
            uint32_t found[8];
            size_t k = cds_kb_interactions(kb, a, b, found, 8);
            for (size_t i = 0; i < k; i++) {
                for (size_t j = i + 1; j < k; j++) {
                    uint32_t x = found[i] < found[j] ? found[i] : found[j], y = found[i] < found[j] ? found[j] : found[i];
                    size_t o = 0;
                    while (o < nov && !(ov[o].x == x && ov[o].y == y)) o++;
                    if (o == nov) {
                        if (nov == cap) {
                            overlap *p = realloc(ov, (cap = cap * 2 + 8) * sizeof *p);
                            if (!p) { free(ov); fprintf(stderr, "lint: out of memory\n"); return 1; }
                            ov = p;
                        }
                        ov[nov++] = (overlap){x, y, 0, a, b};
                    }
                    ov[o].pairs++;
                }
            }
        }
    }
    int errors = 0;
    for (size_t o = 0; o < nov; o++) {
        const cds_kb_interaction *x = cds_kb_interaction_at(kb, ov[o].x), *y = cds_kb_interaction_at(kb, ov[o].y);
        bool differ = strcmp(x->severity, y->severity) != 0;
        errors += differ;
        fprintf(stderr, "interactions: %s: rows %s (%s) and %s (%s) both match %u ingredient pair%s, e.g. %s + %s%s\n",
                differ ? "error" : "warning", x->id, x->severity, y->id, y->severity, ov[o].pairs,
                ov[o].pairs == 1 ? "" : "s", cds_kb_ingredient_at(kb, ov[o].ga)->name, cds_kb_ingredient_at(kb, ov[o].gb)->name,
                differ ? ": narrow one row's classes so each pair has one severity" : "");
    }
    free(ov);
    return errors;
}

int cli_lint(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES;
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else {
            fprintf(c == 'h' ? stdout : stderr, "usage: cdsd lint [--rules DIR]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    cds_ruleset *rs = cli_load_rules(rules, NULL, false);
    if (!rs) return 1;
    printf("%s %s: %zu packs, %zu rules, %zu services, %zu ingredients, %zu interactions\n", rs->name, rs->version,
           rs->npacks, rs->nrules, rs->nservices, cds_kb_ningredients(rs->kb), cds_kb_ninteractions(rs->kb));
    printf("digest %s\nknowledge %s\n", rs->digest, cds_kb_digest(rs->kb));
    for (size_t i = 0; i < rs->nservices; i++)
        printf("service %-28s %-14s %zu rules\n", rs->services[i].id, rs->services[i].hook, rs->services[i].nrules);
    int overlaps = report_overlaps(rs->kb);
    cds_ruleset_free(rs);
    return overlaps ? 1 : 0;
}
