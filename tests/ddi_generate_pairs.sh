#!/bin/sh
# ddi_generate_pairs.sh — writes a synthetic public interaction table of N ingredient pairs over the
# vocabulary's ingredients (for load and per-call cost at scale), in the layout of
# rules/interactions/tables/ddi_va_ndfrt.tsv (source va-ndfrt, severity significant), and the
# class ddi-public-listed naming every ingredient it uses.
# usage: ddi_generate_pairs.sh RULES_DIR N   (edits RULES_DIR's copy of the tables and class)
set -eu
R="$1"; N="$2"
# ingredients with a name of their own (not a salt of a base), each resolving by name to its code
awk -F'\t' '!/^#/ && $1 ~ /^[0-9]+$/ && $3 == "" && $2 !~ /[;()]/ && !seen[$2]++ { print $1 "\t" $2 }' \
    "$R/vocabulary/knowledge/ingredients.tsv" >"$R/.ingredients"
awk -F'\t' -v n="$N" 'BEGIN { k = 0 }
    { code[k] = $1; name[k] = $2; k++ }
    END {
        print "a\ta_name\tseverity\tsource\tcitation\tinteracts_with"
        left = n
        # ingredient i pairs with the next d ingredients (wrapping round), d growing until n pairs
        for (i = 0; i < k && left > 0; i++) {
            line = ""; m = 0
            for (d = 1; d <= k / 2 && left > 0 && m < 120; d++) {
                j = i + d
                if (j >= k) break
                line = line (m ? "; " : "") code[j] " " name[j]; m++; left--
            }
            if (m) print code[i] "\t" name[i] "\tsignificant\tva-ndfrt\tgenerated (synthetic)\t" line
        }
        if (left > 0) { print "only " n - left " pairs fit" > "/dev/stderr"; exit 1 }
    }' "$R/.ingredients" >"$R/interactions/tables/ddi_va_ndfrt.tsv"
codes=$(cut -f1 "$R/.ingredients" | paste -sd';')
sed -i "s/^\(ddi-public-listed\t[^\t]*\t[^\t]*\t\)[^\t]*/\1$codes/" "$R/vocabulary/knowledge/classes-ddi-public.tsv"
rm -f "$R/.ingredients"
