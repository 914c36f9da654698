#!/usr/bin/env python3
"""Recover the public interaction pairs ../shared/corpus/ddi-public dropped for a name it could not code.

The corpus kept a DIKB Merged-PDDI row (NDF-RT, ONC high-priority, ONC non-interruptive) only when
both drugs had an RxNorm ingredient code in its code tables; unmapped.tsv lists the names it could
not place. Names the shipped vocabulary has verified codes for since (rules/vocabulary/knowledge/
ingredients*.tsv, status verified: dofetilide, amiloride, procarbazine, ...) can be placed now.
This reads the dataset the corpus was built from (dbmi-pitt/Merged-PDDI, data/postprocessed-dataset-
not-conservative.tsv.bz2, decompressed; ddi-public/README.md gives the commit and SHA-256) and
writes, for each source, the pairs of the rows the corpus dropped that now map, in the corpus
table's columns: OUTDIR/{va-ndfrt-interactions,onc-high-priority,onc-non-interruptive}-recovered.tsv.
The files belong beside the corpus tables (ddi-public/); tools/ddi_public_import.py reads them
when they are there. Names are mapped as the corpus README says (exact normalised name, then
without salt words; VA names from the interaction label; three DrugBank-to-US translations), but
through the vocabulary's verified codes only; a_class/b_class are left empty (the importer does
not read them). On stderr: how many of the corpus's own pairs the same mapping reproduces (a
check that it maps as the corpus did), the pairs recovered, and the names still without a code.
Output is deterministic.
Usage: tools/ddi_public_recover.py MERGED_PDDI_TSV OUTDIR [CORPUS_DIR]
"""
import csv, os, re, sys

ROOT = os.path.join(os.path.dirname(__file__), '..')
VOCAB = os.path.join(ROOT, 'rules/vocabulary/knowledge')
# DIKB source name -> corpus table (its columns), as in ddi-public/README.md
SOURCES = {'NDF-RT': ('va-ndfrt-interactions', True), 'ONC-HighPriority': ('onc-high-priority', False),
           'ONC-NonInteruptive': ('onc-non-interruptive', False)}
SALT_WORDS = set('hydrochloride hcl sodium potassium calcium magnesium maleate sulfate mesylate acetate succinate '
                 'fumarate oxalate tartrate bitartrate citrate besylate bromide chloride phosphate disodium dihydrate '
                 'monohydrate hyclate hydrobromide lactate gluconate propionate valerate dipropionate trihydrate '
                 'anhydrous hemihydrate tromethamine furoate mesilate dihydrochloride pamoate decanoate enanthate '
                 'cypionate nitrate iodide triethiodide besilate'.split())
VA_NOTES = {'oleandomycin (as troleandomycin)': 'troleandomycin', 'stavudine (d4t)': 'stavudine',
            'zalcitabine (dideoxycytidine,ddc)': 'zalcitabine'}
ONC_US_NAMES = {'acetylsalicylic acid': 'aspirin', 'rifampicin': 'rifampin', 'pethidine': 'meperidine'}


def tsv(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t'))


def norm(s):
    return re.sub(r'\s+', ' ', s.replace('\ufeff', '').replace('_', ' ')).strip().lower()


def vocabulary():
    """Verified ingredients: rxcui -> name, and name/synonym -> rxcui (a precise ingredient -> its base)."""
    rows = [r for fn in sorted(os.listdir(VOCAB)) if fn.startswith('ingredients') and fn.endswith('.tsv')
            for r in tsv(os.path.join(VOCAB, fn)) if r['status'] == 'verified']
    names = {r['rxcui']: r['name'].lower() for r in rows if not r.get('base')}
    codes = {}
    for r in rows:
        code = r.get('base') or r['rxcui']
        if code in names:
            for n in [r['name']] + (r.get('synonyms') or '').split(';'):
                if n.strip():
                    codes.setdefault(n.strip().lower(), code)
    return names, codes


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pddi, outdir = sys.argv[1], sys.argv[2]
    corpus = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, '../shared/corpus')
    names, codes = vocabulary()

    def code_of(name):
        name = VA_NOTES.get(name, name)
        if name in codes:
            return codes[name]
        words = name.split()
        bare = ' '.join(w for w in words if w not in SALT_WORDS)
        return codes.get(bare) if bare and bare != name else None

    unmapped = {(r['source'], norm(r['name'])) for r in tsv(os.path.join(corpus, 'ddi-public/unmapped.tsv'))}
    kept = {src: {frozenset((r['a_rxcui'], r['b_rxcui'])) for r in tsv(os.path.join(corpus, 'ddi-public', t + '.tsv'))}
            for src, (t, _) in SOURCES.items()}
    found = {src: {} for src in SOURCES}        # pair -> (severity, NUIs)
    reproduced = {src: set() for src in SOURCES}
    still = {}
    csv.field_size_limit(1 << 30)
    with open(pddi, newline='', encoding='utf-8') as f:
        for r in csv.DictReader(f, delimiter='\t'):
            src = r['source']
            if src not in SOURCES:
                continue
            if src == 'NDF-RT':
                parts = [norm(x) for x in re.sub(r'\s*\[VA Drug Interaction\]\s*$', '', r['label']).split('/')]
                sev, nui = r['severity'].lower(), r['uri'].rsplit('/', 1)[-1]
            else:
                parts = [ONC_US_NAMES.get(norm(r['object']), norm(r['object'])),
                         ONC_US_NAMES.get(norm(r['precipitant']), norm(r['precipitant']))]
                sev, nui = '', ''
            if len(parts) != 2:
                continue
            cs = [code_of(p) for p in parts]
            dropped = any((src, p) in unmapped for p in parts)
            if None in cs:
                for p, c in zip(parts, cs):
                    if c is None and dropped:
                        still[(src, p)] = still.get((src, p), 0) + 1
                continue
            pair = frozenset(cs)
            if len(pair) < 2:
                continue
            if not dropped:
                reproduced[src].add(pair)
                continue
            if pair in kept[src]:
                continue
            old = found[src].get(pair)
            if old and (old[0] == 'critical') > (sev == 'critical'):
                continue
            nuis = set(old[1]) if old and old[0] == sev else set()
            found[src][pair] = (sev, nuis | ({nui} if nui else set()))
    os.makedirs(outdir, exist_ok=True)
    for src, (table, va) in SOURCES.items():
        cols = ['a_rxcui', 'a_name', 'b_rxcui', 'b_name'] + (['severity', 'ndfrt_concept'] if va else []) + ['a_class', 'b_class']
        with open(os.path.join(outdir, table + '-recovered.tsv'), 'w', encoding='utf-8', newline='\n') as f:
            f.write('\t'.join(cols) + '\n')
            for pair, (sev, nuis) in sorted(found[src].items(), key=lambda kv: sorted(int(c) for c in kv[0])):
                a, b = sorted(pair, key=int)
                f.write('\t'.join([a, names[a], b, names[b]] + ([sev, ';'.join(sorted(nuis))] if va else []) + ['', '']) + '\n')
        print('%s: the mapping reproduces %d of the corpus\'s %d pairs; %d pairs recovered (%s)' % (
            table, len(reproduced[src] & kept[src]), len(kept[src]), len(found[src]),
            ', '.join('%d %s' % (n, s) for s, n in sorted(
                {s: sum(1 for v in found[src].values() if v[0] == s) for s in {v[0] for v in found[src].values()}}.items())
                      ) if va else 'no severity'), file=sys.stderr)
    print('names still without a code: %d (%d source rows)' % (len(still), sum(still.values())), file=sys.stderr)


if __name__ == '__main__':
    main()
