#!/usr/bin/env python3
"""Regenerate the interactions pack's public pair tables from ../shared/corpus/ddi-public.

Writes rules/interactions/tables/ddi_onc_high_priority.tsv, ddi_va_ndfrt.tsv and
ddi_onc_non_interruptive.tsv (and the class of their ingredients, rules/vocabulary/knowledge/
classes-ddi-public.tsv): one row per ingredient and severity, listing the ingredients it
interacts with (each unordered pair once, under its smaller RxCUI, sorted as numbers), with the
row's source and citation and each VA pair's NDF-RT concept ids.
Only facts are kept (which ingredients interact, the VA's level, the concept id); no text of the
sources is copied. The rule ddi.interaction reads the tables (rules/interactions/ddi.lua) and the
site policy in ddi_policy.tsv decides what each (source, severity) shows at each hook.

Every code must be an ingredient of the shipped vocabulary (rules/vocabulary/knowledge/
ingredients*.tsv) under the same name: a pair whose code or name does not resolve stops the
import with the row (fix the vocabulary, then rerun). The names the corpus itself could not place
(unmapped.tsv) are summarised on stderr: which of them the vocabulary knows now. The pairs the corpus
dropped for those names are read from ddi-public/*-recovered.tsv when the corpus has them
(tools/ddi_public_recover.py writes them from the corpus's own source dataset): same columns, same
checks; a pair the table already holds is skipped.
Output is deterministic (same input, same bytes).
Usage: tools/ddi_public_import.py [CORPUS_DIR]
"""
import csv, os, sys

CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/corpus')
ROOT = os.path.join(os.path.dirname(__file__), '..')
OUT = os.path.join(ROOT, 'rules/interactions/tables')
VOCAB = os.path.join(ROOT, 'rules/vocabulary/knowledge')

# (corpus file, output table, source id, how a row's severity is written, the source's citation, a
# pair's own citation or None). The pairs of one ingredient and severity share a row: a rule file
# loads under the evaluation budget, and a row costs more to read than an item of a list.
TABLES = [
    ('onc-high-priority.tsv', 'ddi_onc_high_priority', 'onc-high-priority', lambda r: 'high-priority',
     'Phansalkar 2012 (JAMIA 19:735), class expanded by DIKB', lambda r: None),
    ('va-ndfrt-interactions.tsv', 'ddi_va_ndfrt', 'va-ndfrt', lambda r: r['severity'],
     'VA NDF-RT drug interactions (public domain), via DIKB Merged-PDDI', lambda r: r['ndfrt_concept']),
    ('onc-non-interruptive.tsv', 'ddi_onc_non_interruptive', 'onc-non-interruptive', lambda r: 'non-interruptive',
     'Phansalkar 2013 (JAMIA 20:489), class expanded by DIKB', lambda r: None),
]


def tsv(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t'))


def vocabulary():
    """rxcui -> lower-case name, and name/synonym -> rxcui, of the shipped ingredients (no PINs)."""
    names, codes = {}, {}
    for fn in sorted(os.listdir(VOCAB)):
        if fn.startswith('ingredients') and fn.endswith('.tsv'):
            for r in tsv(os.path.join(VOCAB, fn)):
                if r.get('base'):
                    continue
                names[r['rxcui']] = r['name'].lower()
                codes[r['name'].lower()] = r['rxcui']
                for s in (r.get('synonyms') or '').split(';'):
                    if s.strip():
                        codes.setdefault(s.strip().lower(), r['rxcui'])
    return names, codes


def main():
    names, codes = vocabulary()
    os.makedirs(OUT, exist_ok=True)
    problems, listed = [], set()
    for src_file, table, source, severity, cite, pair_cite in TABLES:
        rows = [(src_file, i, r) for i, r in enumerate(tsv(os.path.join(CORPUS, 'ddi-public', src_file)), start=2)]
        recovered = src_file.replace('.tsv', '-recovered.tsv')
        if os.path.exists(os.path.join(CORPUS, 'ddi-public', recovered)):
            have = {frozenset((r['a_rxcui'], r['b_rxcui'])) for _, _, r in rows}
            more = [(recovered, i, r) for i, r in enumerate(tsv(os.path.join(CORPUS, 'ddi-public', recovered)), start=2)
                    if frozenset((r['a_rxcui'], r['b_rxcui'])) not in have]
            print('%s: %d pairs the corpus table lacks' % (recovered, len(more)), file=sys.stderr)
            rows += more
        groups = {}   # (a, a_name, severity) -> [(b, b_name, pair citation)]
        for fname, i, r in rows:
            a, b = r['a_rxcui'], r['b_rxcui']
            for code, name in ((a, r['a_name']), (b, r['b_name'])):
                if names.get(code) != name.lower():
                    problems.append('%s:%d: %s %s: %s' % (fname, i, code, name,
                                    'not in the vocabulary' if code not in names else 'vocabulary names it ' + names[code]))
            listed.update((a, b))
            if int(a) > int(b):
                a, b, r = b, a, dict(r, a_name=r['b_name'], b_name=r['a_name'])
            groups.setdefault((a, r['a_name'], severity(r)), []).append((b, r['b_name'], pair_cite(r)))
        with open(os.path.join(OUT, table + '.tsv'), 'w', encoding='utf-8', newline='\n') as f:
            f.write('# Generated by tools/ddi_public_import.py from ../shared/corpus/ddi-public/%s (see NOTICE);\n'
                    '# do not edit: change the vocabulary or the converter and rerun. Site policy: ddi_policy.tsv.\n'
                    '# One row per ingredient a and severity; interacts_with lists its partners b (the larger RxCUI of\n'
                    '# each pair) as "RXCUI name", with the pair\'s own citation in brackets where the source has one.\n'
                    % src_file)
            f.write('a\ta_name\tseverity\tsource\tcitation\tinteracts_with\n')
            for (a, a_name, sev), items in sorted(groups.items(), key=lambda g: (int(g[0][0]), g[0][2])):
                items.sort(key=lambda x: int(x[0]))
                f.write('\t'.join([a, a_name, sev, source, cite, '; '.join(
                    '%s %s%s' % (b, bn, ' (%s)' % c.replace(';', ',') if c else '') for b, bn, c in items)]) + '\n')
        print('%s.tsv: %d pairs in %d rows' % (table, len(rows), len(groups)), file=sys.stderr)
    # One class holding every listed ingredient: the rule asks the C matcher for the medications
    # holding one (ctx.meds.all), instead of reading every medication of the request in Lua.
    with open(os.path.join(VOCAB, 'classes-ddi-public.tsv'), 'w', encoding='utf-8', newline='\n') as f:
        f.write('# Generated by tools/ddi_public_import.py: the ingredients of rules/interactions/tables/ddi_*.tsv\n'
                '# (read by rules/interactions/ddi.lua to find the medications worth a look); do not edit.\n')
        f.write('id\tname\tkind\tmembers\tsource\n')
        f.write('ddi-public-listed\tIngredients listed by a public interaction table\tindex\t%s\ttools/ddi_public_import.py\n'
                % ';'.join(sorted(listed, key=int)))
    known = sorted({(r['name'].lower(), codes[r['name'].lower()]) for r in tsv(os.path.join(CORPUS, 'ddi-public/unmapped.tsv'))
                    if r['name'].lower() in codes})
    print('unmapped.tsv: %d names the vocabulary now knows (the corpus build dropped their pairs: '
          'tools/ddi_public_recover.py writes them to ddi-public/*-recovered.tsv): %s'
          % (len(known), ', '.join('%s=%s' % k for k in known)), file=sys.stderr)
    if problems:
        print('\n'.join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
