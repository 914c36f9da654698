#!/usr/bin/env python3
"""Regenerate the shipped knowledge tables from ../shared/corpus (run by hand, output committed).

Writes rules/vocabulary/knowledge/{ingredients,products,classes}.tsv and
rules/interactions/knowledge/interactions.tsv.  Codes are taken from the corpus' verified
ingredient list (which corrects two codes of ddi-facts.tsv); every row keeps its source.
Curated knowledge lives in tools/kb-curated/: classes.tsv (one class per concept, members by
name, replacing the corpus' near-duplicate groups) and interactions.tsv (clinical wording,
severities, short citations and new rows, merged over ddi-facts.tsv by id).  Hand-written
tables under rules/ (cross_sensitivity, allergen_codes, *-extra, *-corpus, *-aliases) are not
touched.
Usage: tools/kb_from_corpus.py [CORPUS_DIR]
"""
import csv, glob, json, os, re, sys

CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/corpus')
ROOT = os.path.join(os.path.dirname(__file__), '..')
SALTS = set('sodium potassium hydrochloride hcl sulfate carbonate citrate maleate mesylate besylate succinate '
            'tartrate fumarate acetate phosphate bromide chloride calcium magnesium disodium dihydrate monohydrate '
            'hyclate hydrobromide bitartrate lactate gluconate propionate valerate dipropionate trihydrate anhydrous '
            'hemihydrate sesquihydrate potassium tromethamine furoate mesilate dihydrochloride pamoate decanoate '
            'enanthate cypionate nitrate'.split())
# Corrections of codes that ddi-facts.tsv / allergy-classes.tsv got wrong, keyed by (name, code):
# the fact file wrote pseudoephedrine=8163, but 8163 is phenylephrine (corpus verification). The
# correction applies to that named member only: applying it to every product carrying 8163 once
# turned ~260 phenylephrine products into pseudoephedrine.
# ddi-facts.tsv also wrote isosorbide mononitrate=6058, but 6058 is isosorbide dinitrate (corpus
# verification); RxNorm keys isosorbide mononitrate products on the ingredient isosorbide, 6057:
# rxnorm-product-ingredients.tsv maps the SCDF 393142 "Aspirin / Isosorbide Extended Release Oral
# Tablet" (the form of SCD 876666 "Aspirin 150 MG / Isosorbide Mononitrate 60 MG Extended Release
# Oral Tablet") to 1191;6057, from the HL7 PDDI-CDS aspirin value set.
CORRECT = {('pseudoephedrine', '8163'): '8896', ('isosorbide mononitrate', '6058'): '6057'}
# Precise-ingredient names an order's text uses whose RxNorm ingredient has another name (same
# evidence as CORRECT above), so the name matcher takes the whole name, not a word of it.
PIN_NAMES = {'isosorbide mononitrate': '6057'}
# 6058 is confirmed as isosorbide dinitrate by rxnorm-ingredients-verified.tsv (cpic drug.sql and
# the eCQM US Core allergy substance value set); only its use for the mononitrate was wrong.
# Codes ddi-facts.tsv uses that the corpus' verified list leaves 'still unverified', verified since
# against public code lists (issue 17): the RxNorm RRF ingredient extract in davidanderson3/
# rxnorm-ingredients, and PharmGKB's drugs.tsv (a copy in unc-chip/Methods-in-Medical-Informatics),
# whose codes agree with the vocabulary's verified ones (README "Vocabulary").
DA = 'davidanderson3/rxnorm-ingredients@a8fcf13a679f:web/data/{}.json (RxNorm RRF ingredient extract, SAB=RXNORM: {} "{}" TTY IN)'
PGKB = 'unc-chip/Methods-in-Medical-Informatics@5b0100a775aa:drugs.tsv (PharmGKB drugs.tsv: {} {}, RxNorm {})'
VERIFIED_SINCE = {
    '49247': ('dofetilide', DA.format('D', '49247', 'dofetilide') + '; ' + PGKB.format('PA449389', 'dofetilide', '49247')),
    '73689': ('febuxostat', DA.format('F', '73689', 'febuxostat') + '; ' + PGKB.format('PA165958521', 'febuxostat', '73689')),
    '8152': ('phentermine', DA.format('P', '8152', 'phentermine') + '; Hadlock-Lab/CEDA-Tools-v1.1@20680c225b43:'
             'clinical_concepts/medication_concepts.py (\'8152\' # phentermine); '
             + PGKB.format('PA164748099', 'phentermine', '8152')),
    '8702': ('procarbazine', DA.format('P', '8702', 'procarbazine') + '; ' + PGKB.format('PA451112', 'procarbazine', '8702')
             + '; domeo/DomeoClient@535395914268:src/org/mindinformatics/gwt/domeo/plugins/annotation/ddi/model/'
             'Mddi.java (DIKB drug entities)'),
    '596205': ('ramelteon', DA.format('R', '596205', 'ramelteon') + '; ' + PGKB.format('PA164744896', 'ramelteon', '596205')),
}
# Other names of an RxNorm ingredient that orders use: RxNorm names cyanocobalamin's ingredient
# "vitamin B12" (11248; PharmGKB drugs.tsv, PGKB above, pairs RxNorm 11248 with cyanocobalamin).
OTHER_NAMES = {'cyanocobalamin': ('11248', PGKB.format('PA451892', 'cyanocobalamin', '11248'))}

def rows(name):
    with open(os.path.join(CORPUS, name), newline='') as f:
        return list(csv.DictReader(f, delimiter='\t'))

def clean(s):
    return re.sub(r'\s+', ' ', s.replace('\t', ' ')).strip()

def slug(s):
    return re.sub(r'[^a-z0-9]+', '-', s.lower()).strip('-')

def short_evidence(e):
    first = e.split('|')[0].strip()
    return clean(first)[:160]

# --- ingredients -------------------------------------------------------------------------------
ingr = {}     # rxcui -> dict
mins = {}     # rxcui -> name (multi-ingredient names become products)
for r in rows('rxnorm-ingredients-verified.tsv'):
    code, name, tty = r['rxcui'].strip(), clean(r['name']).lower(), r['tty'].strip()
    if not code or not name:
        continue
    if tty.startswith('MIN'):
        mins[code] = name
        continue
    m = re.match(r'PIN \(base IN (\d+)\)', tty)
    status = 'unverified' if r.get('verdict_for_input_row', '').startswith('still') else 'verified'
    ingr[code] = {'rxcui': code, 'name': name, 'base': m.group(1) if m else '', 'status': status,
                  'source': short_evidence(r['evidence']), 'syn': set()}
for code, (name, source) in VERIFIED_SINCE.items():
    if code not in ingr or ingr[code]['name'] != name:
        sys.exit(f'kb_from_corpus: VERIFIED_SINCE {code} {name}: not that ingredient in the corpus list')
    ingr[code].update(status='verified', source='ddi-facts.tsv; not confirmed in the corpus; verified: ' + source)
by_name = {v['name']: k for k, v in ingr.items() if not v['base']}
# Salt forms whose bare name is an ingredient map to it ("lithium carbonate" -> lithium).
for k, v in ingr.items():
    if v['base']:
        continue
    words = v['name'].split()
    if len(words) > 1 and words[-1] in SALTS:
        bare = ' '.join(w for w in words if w not in SALTS)
        if bare in by_name and by_name[bare] != k and bare not in ('potassium', 'calcium', 'magnesium', 'sodium'):
            v['base'] = by_name[bare]

def canon(code, name=None):
    code = CORRECT.get((name, code), code) if name else code
    seen = 0
    while code in ingr and ingr[code]['base'] and seen < 3:
        code = ingr[code]['base']; seen += 1
    return code

# --- products ----------------------------------------------------------------------------------
# A product ingredient the corpus left uncoded ("unmapped substance(s)") whose name the vocabulary's
# hand-written tables (ingredients-*.tsv, verified rows) code now is mapped to that code, as the corpus
# maps names: the exact name, then without salt words (issue 17: amiloride, sodium bicarbonate, ...).
hand_codes, hand_rxcuis = {}, set()
for path in sorted(glob.glob(os.path.join(ROOT, 'rules/vocabulary/knowledge/ingredients-*.tsv'))):
    with open(path, newline='') as f:
        for r in csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t'):
            hand_rxcuis.add(r['rxcui'].strip())
            if r['status'].strip() == 'verified':
                for n in [r['name']] + (r['synonyms'] or '').split(';'):
                    if n.strip():
                        hand_codes.setdefault(n.strip().lower(), r['base'].strip() or r['rxcui'].strip())

# Products the hand-written tables (products-corpus.tsv, products-aliases.tsv) map keep that mapping.
hand_products = set()
for path in sorted(glob.glob(os.path.join(ROOT, 'rules/vocabulary/knowledge/products-*.tsv'))):
    with open(path, newline='') as f:
        hand_products |= {r['rxcui'].strip() for r in csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t')}

def hand_code(name):
    bare = ' '.join(w for w in name.split() if w not in SALTS)
    return hand_codes.get(name) or (hand_codes.get(bare) if bare else None)

products = {}
for r in rows('rxnorm-product-ingredients.tsv'):
    code = r['product_rxcui'].strip()
    codes = [c.strip() for c in re.split(r'[;,| ]+', r['ingredient_rxcuis']) if c.strip()]
    names = [clean(n).lower() for n in r.get('ingredient_names', '').split(';')]
    ings = [canon(c) for c in codes]
    unknown = [names[i] if i < len(names) and names[i] else 'RxNorm ' + codes[i]
               for i, c in enumerate(ings) if c not in ingr]
    ings = [c for c in dict.fromkeys(ings) if c in ingr]
    m = re.search(r'unmapped substance\(s\):\s*(.+)$', r.get('notes') or '')
    if m:
        unknown += [clean(x).lower() for x in m.group(1).split(';') if clean(x)]
    coded = {u: hand_code(u) for u in unknown if hand_code(u)}
    ings += [c for c in dict.fromkeys(coded.values()) if c not in ings]
    unknown = [u for u in unknown if u not in coded]
    if not code or not ings or code in ingr or code in hand_rxcuis or code in hand_products:
        continue
    name = clean(r['product_name'])
    products[code] = {'rxcui': code, 'name': name, 'tty': r['tty'].strip(), 'ings': ings,
                      'unscreened': ';'.join(dict.fromkeys(unknown)),
                      'source': r['mapping_method'].strip() + ' ' + short_evidence(r['evidence'])
                      + (' || coded by the vocabulary: ' + ', '.join(sorted(coded)) if coded else '')}
    b = re.search(r'\[([^\]]+)\]\s*$', name)
    if b and len(ings) == 1 and ings[0] in ingr:
        brand = b.group(1).lower()
        if brand not in by_name and len(brand) > 3:
            ingr[ings[0]]['syn'].add(brand)
for code, name in mins.items():
    parts = [by_name.get(p.strip()) for p in name.split(' / ')]
    if all(parts) and code not in products:
        products[code] = {'rxcui': code, 'name': name, 'tty': 'MIN', 'ings': [canon(p) for p in parts],
                          'source': 'multiple-ingredient name split on " / "'}
for pin, code in PIN_NAMES.items():
    ingr[code]['syn'].add(pin)
for other, (code, source) in OTHER_NAMES.items():
    ingr[code]['syn'].add(other)
    ingr[code]['source'] += f'; "{other}": {source}'
# A brand claimed by two ingredients is ambiguous: drop it.
owner = {}
for k, v in ingr.items():
    for s in v['syn']:
        owner.setdefault(s, set()).add(k)
for k, v in ingr.items():
    v['syn'] = {s for s in v['syn'] if len(owner[s]) == 1}

# --- curated data (tools/kb-curated/) ------------------------------------------------------------
CUR = os.path.join(os.path.dirname(__file__), 'kb-curated')

def curated(name):
    with open(os.path.join(CUR, name), newline='') as f:
        return list(csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t'))

# Names an author may use: the compiled ingredients plus the hand-written ingredients-*.tsv
# (extra, dosing, ...: every file beside the generated ingredients.tsv).
names = dict(by_name)
for path in sorted(glob.glob(os.path.join(ROOT, 'rules/vocabulary/knowledge/ingredients-*.tsv'))):
    with open(path, newline='') as f:
        for r in csv.DictReader((l for l in f if not l.startswith('#')), delimiter='\t'):
            names.setdefault(r['name'].strip().lower(), r['rxcui'].strip())
extra_names = {v: k for k, v in names.items() if v not in ingr}

def fail(msg):
    sys.exit('tools/kb-curated: ' + msg)

def ingredient_name(code):
    return ingr[code]['name'] if code in ingr else extra_names.get(code, code)

classes = {}
def add_class(name, mem, kind, source, cid=None):
    cid = cid or slug(name)
    c = classes.setdefault(cid, {'id': cid, 'name': name, 'kinds': set(), 'members': [], 'source': source, 'syn': ''})
    c['kinds'].add(kind)
    for m in mem:
        if m not in c['members']:
            c['members'].append(m)
    return cid

cur_classes = curated('classes.tsv')
replaced = {}                       # ddi-facts group name or generated id -> curated id
for r in cur_classes:
    for x in r['replaces'].split(';'):
        if x.strip():
            replaced[x.strip()] = r['id']
            replaced[slug(x)] = r['id']
def expand(r, seen=()):
    out = []
    for m in (x.strip() for x in r['members'].split(';')):
        if not m:
            continue
        if m.startswith('class:'):
            sub = next((c for c in cur_classes if c['id'] == m[6:]), None)
            if not sub or m[6:] in seen:
                fail(f"classes.tsv: class '{r['id']}' includes unknown or circular {m}")
            out += expand(sub, seen + (r['id'],))
        elif m.lower() in names:
            out.append(names[m.lower()])
        else:
            fail(f"classes.tsv: class '{r['id']}': '{m}' is not an ingredient of the vocabulary")
    return list(dict.fromkeys(out))
for r in cur_classes:
    for k in r['kind'].split(','):
        add_class(r['name'], expand(r), k.strip(), r['source'], cid=r['id'])
    classes[r['id']]['syn'] = r['synonyms']
    classes[r['id']]['curated'] = True

# --- classes from the corpus -------------------------------------------------------------------
def members(field):
    out = []
    for part in field.split(';'):
        m = re.search(r'=(\d+)', part)
        if m:
            c = canon(m.group(1), clean(part.split('=')[0]).lower())
            if c in ingr:
                out.append(c)
            elif c in products:      # a combination given as one code: its ingredients
                out.extend(products[c]['ings'])
    return list(dict.fromkeys(out))

for r in rows('allergy-classes.tsv'):
    mem = members(r['member_ingredients_rxcui'])
    name = clean(r['allergen_class'])
    if mem and name not in replaced and slug(name) not in replaced:
        add_class(name, mem, 'allergen', clean(r['source'])[:200])

# Group names whose members ddi-facts.tsv leaves empty: members by ingredient name (verified list).
NAME_FALLBACK = {
    'Non-sedating antihistamines withdrawn for QT risk': ['astemizole', 'terfenadine'],
    'Macrolide immunosuppressants (tacrolimus, sirolimus, everolimus)': ['tacrolimus', 'sirolimus', 'everolimus'],
    'Folic acid': ['folic acid'],
    'Vitamin E': ['vitamin e'],
    'Anticholinesterases': ['pyridostigmine', 'neostigmine'],
}
interactions = []
for r in rows('ddi-facts.tsv'):
    sides = []
    for name_f, mem_f in (('drug_or_class_a', 'a_members_rxcui'), ('drug_or_class_b', 'b_members_rxcui')):
        mem = members(r[mem_f])
        name = clean(r[name_f])
        if name in replaced:
            sides.append(('class:' + replaced[name], classes[replaced[name]]['name']))
            continue
        if not mem:
            mem = [names[n] for n in NAME_FALLBACK.get(name, []) if n in names]
        if not mem:
            print(f"skipping {r['id']}: no ingredient code for '{name}'", file=sys.stderr)
            sides = None
            break
        if len(mem) == 1 and ('/' not in name and ',' not in name and len(name.split()) <= 2):
            sides.append((mem[0], name))
        else:
            sides.append(('class:' + add_class(name, mem, 'interaction', 'ddi-facts.tsv ' + r['id']), name))
    if sides is None:
        continue
    interactions.append({'id': r['id'], 'a': sides[0][0], 'a_label': sides[0][1], 'b': sides[1][0],
                         'b_label': sides[1][1], 'severity': r['severity'].strip(), 'list': r['list'].strip(),
                         'mechanism': clean(r['mechanism']), 'management': clean(r['management']),
                         'provenance': clean(r['source'])})

# --- curated interaction rows: overrides by id, and new rows -----------------------------------
def side(v, rid):
    v = v.strip()
    if v.startswith('class:'):
        cid = replaced.get(v[6:], v[6:])
        if cid not in classes:
            fail(f"interactions.tsv {rid}: unknown class '{v[6:]}'")
        return 'class:' + cid, classes[cid]['name']
    code = v if v.isdigit() else names.get(v.lower())
    if not code:
        fail(f"interactions.tsv {rid}: '{v}' is not an ingredient of the vocabulary")
    return code, ingredient_name(code)[:1].upper() + ingredient_name(code)[1:]

by_id = {x['id']: x for x in interactions}
for r in curated('interactions.tsv'):
    x = by_id.get(r['id'])
    if x is None:
        x = by_id[r['id']] = {'id': r['id'], 'list': 'curated', 'provenance': 'tools/kb-curated/interactions.tsv'}
        interactions.append(x)
    for col in ('a', 'b'):
        if r[col].strip():
            x[col], x[col + '_label'] = side(r[col], r['id'])
    for col in ('severity', 'mechanism', 'consequence', 'management', 'alternative', 'applies_if', 'source'):
        if r[col].strip():
            x[col] = clean(r[col])

def short_citation(src):
    if 'Phansalkar' in src and '2012' in src:
        return 'Phansalkar S et al. JAMIA 2012;19:735 (ONC high-priority DDIs)'
    if 'Phansalkar' in src and '2013' in src:
        return 'Phansalkar S et al. JAMIA 2013;20:489 (ONC non-interruptive DDIs)'
    if src.startswith('HL7 Potential Drug-Drug Interaction'):
        return 'HL7 PDDI-CDS implementation guide (Warfarin-NSAIDs, Digoxin-Cyclosporine)'
    first = re.sub(r'\s*\([^)]*\)', '', src.split(';')[0]).strip()
    return first[:120]

for x in interactions:
    # The fact file writes "mechanism -> consequence"; the card shows them as two lines.
    if not x.get('consequence') and '->' in x.get('mechanism', ''):
        mech, cons = x['mechanism'].rsplit('->', 1)
        x['mechanism'], x['consequence'] = mech.strip().rstrip(',;'), cons.strip()[:1].upper() + cons.strip()[1:]
    if not x.get('source'):
        x['source'] = short_citation(x['provenance'])
    for col in ('a', 'b'):
        if x[col].startswith('class:'):
            classes[x[col][6:]]['used'] = True

# Corpus interaction classes that no row uses any more (replaced by curated ones) are not written.
classes = {k: v for k, v in classes.items() if v.get('curated') or v.get('used') or 'allergen' in v['kinds']}

def write(path, header, data):
    with open(os.path.join(ROOT, path), 'w', newline='') as f:
        f.write('# Generated by tools/kb_from_corpus.py from ../shared/corpus (synthetic + public sources; see NOTICE).\n')
        f.write('\t'.join(header) + '\n')
        for d in data:
            f.write('\t'.join(clean(str(d.get(h, ''))) for h in header) + '\n')

write('rules/vocabulary/knowledge/ingredients.tsv', ['rxcui', 'name', 'base', 'synonyms', 'status', 'source'],
      [dict(v, synonyms=';'.join(sorted(v['syn']))) for v in sorted(ingr.values(), key=lambda v: int(v['rxcui']))])
# unscreened: ingredients of the product that the vocabulary does not know (never screened: the
# "could not screen" card names them).
write('rules/vocabulary/knowledge/products.tsv', ['rxcui', 'name', 'tty', 'ingredients', 'unscreened', 'source'],
      [dict(v, ingredients=';'.join(v['ings'])) for v in sorted(products.values(), key=lambda v: int(v['rxcui']))])
# Words an allergy may be recorded under, per class (free-text AllergyIntolerance.code.text): the
# synonyms column of tools/kb-curated/classes.tsv.
write('rules/vocabulary/knowledge/classes.tsv', ['id', 'name', 'kind', 'members', 'synonyms', 'source'],
      [dict(v, kind=','.join(sorted(v['kinds'])), members=';'.join(v['members']), synonyms=v['syn'])
       for v in classes.values()])
write('rules/interactions/knowledge/interactions.tsv',
      ['id', 'a', 'a_label', 'b', 'b_label', 'severity', 'list', 'mechanism', 'consequence', 'management',
       'alternative', 'applies_if', 'source', 'provenance'], interactions)
print(f'{len(ingr)} ingredients, {len(products)} products, {len(classes)} classes, {len(interactions)} interactions')
