#!/usr/bin/env python3
"""Regenerate the shipped knowledge tables from ../shared/corpus (run by hand, output committed).

Writes rules/vocabulary/knowledge/{ingredients,products,classes}.tsv, rules/allergy/knowledge/
allergen_codes.tsv and rules/interactions/knowledge/interactions.tsv.  Codes are taken from the
corpus' verified ingredient list (which corrects two codes of ddi-facts.tsv); every row keeps its
source.  Hand-written content (cross-sensitivity, interaction wording) is not touched.
Usage: tools/kb_from_corpus.py [CORPUS_DIR]
"""
import csv, json, os, re, sys

CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/corpus')
ROOT = os.path.join(os.path.dirname(__file__), '..')
SALTS = set('sodium potassium hydrochloride hcl sulfate carbonate citrate maleate mesylate besylate succinate '
            'tartrate fumarate acetate phosphate bromide chloride calcium magnesium disodium dihydrate monohydrate '
            'hyclate hydrobromide bitartrate lactate gluconate propionate valerate dipropionate trihydrate anhydrous '
            'hemihydrate sesquihydrate potassium tromethamine furoate mesilate dihydrochloride pamoate decanoate '
            'enanthate cypionate nitrate'.split())
CORRECT = {'8163': '8896'}          # pseudoephedrine (corpus verification)
UNVERIFIED = {'49247', '73689', '8152', '8702', '596205', '6058'}

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
    status = 'unverified' if code in UNVERIFIED or r.get('verdict_for_input_row', '').startswith('still') else 'verified'
    ingr[code] = {'rxcui': code, 'name': name, 'base': m.group(1) if m else '', 'status': status,
                  'source': short_evidence(r['evidence']), 'syn': set()}
for code in UNVERIFIED:
    if code in ingr:
        ingr[code]['status'] = 'unverified'
for code, name in [('49247', 'dofetilide'), ('73689', 'febuxostat'), ('8152', 'phentermine'),
                   ('8702', 'procarbazine'), ('596205', 'ramelteon')]:
    ingr.setdefault(code, {'rxcui': code, 'name': name, 'base': '', 'status': 'unverified',
                           'source': 'ddi-facts.tsv (code not confirmed in mined vocabularies)', 'syn': set()})
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

def canon(code):
    code = CORRECT.get(code, code)
    seen = 0
    while code in ingr and ingr[code]['base'] and seen < 3:
        code = ingr[code]['base']; seen += 1
    return code

# --- products ----------------------------------------------------------------------------------
products = {}
for r in rows('rxnorm-product-ingredients.tsv'):
    code = r['product_rxcui'].strip()
    ings = [canon(c.strip()) for c in re.split(r'[;,| ]+', r['ingredient_rxcuis']) if c.strip()]
    ings = [c for c in dict.fromkeys(ings) if c in ingr]
    if not code or not ings or code in ingr:
        continue
    name = clean(r['product_name'])
    products[code] = {'rxcui': code, 'name': name, 'tty': r['tty'].strip(), 'ings': ings,
                      'source': r['mapping_method'].strip() + ' ' + short_evidence(r['evidence'])}
    b = re.search(r'\[([^\]]+)\]\s*$', name)
    if b and len(ings) == 1:
        brand = b.group(1).lower()
        if brand not in by_name and len(brand) > 3:
            ingr[ings[0]]['syn'].add(brand)
for code, name in mins.items():
    parts = [by_name.get(p.strip()) for p in name.split(' / ')]
    if all(parts) and code not in products:
        products[code] = {'rxcui': code, 'name': name, 'tty': 'MIN', 'ings': [canon(p) for p in parts],
                          'source': 'multiple-ingredient name split on " / "'}
# A brand claimed by two ingredients is ambiguous: drop it.
owner = {}
for k, v in ingr.items():
    for s in v['syn']:
        owner.setdefault(s, set()).add(k)
for k, v in ingr.items():
    v['syn'] = {s for s in v['syn'] if len(owner[s]) == 1}

# --- classes -----------------------------------------------------------------------------------
classes = {}
def members(field):
    out = []
    for part in field.split(';'):
        m = re.search(r'=(\d+)', part)
        if m:
            c = canon(m.group(1))
            if c in ingr:
                out.append(c)
            elif c in products:      # a combination given as one code: its ingredients
                out.extend(products[c]['ings'])
    return list(dict.fromkeys(out))

def add_class(name, mem, kind, source):
    cid = slug(name)
    c = classes.setdefault(cid, {'id': cid, 'name': name, 'kinds': set(), 'members': [], 'source': source})
    c['kinds'].add(kind)
    for m in mem:
        if m not in c['members']:
            c['members'].append(m)
    return cid

for r in rows('allergy-classes.tsv'):
    mem = members(r['member_ingredients_rxcui'])
    if mem:
        add_class(clean(r['allergen_class']), mem, 'allergen', clean(r['source'])[:200])

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
        if not mem:
            mem = [by_name[n] for n in NAME_FALLBACK.get(name, []) if n in by_name]
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
                         'source': clean(r['source'])})

def write(path, header, data):
    with open(os.path.join(ROOT, path), 'w', newline='') as f:
        f.write('# Generated by tools/kb_from_corpus.py from ../shared/corpus (synthetic + public sources; see NOTICE).\n')
        f.write('\t'.join(header) + '\n')
        for d in data:
            f.write('\t'.join(clean(str(d.get(h, ''))) for h in header) + '\n')

write('rules/vocabulary/knowledge/ingredients.tsv', ['rxcui', 'name', 'base', 'synonyms', 'status', 'source'],
      [dict(v, synonyms=';'.join(sorted(v['syn']))) for v in sorted(ingr.values(), key=lambda v: int(v['rxcui']))])
write('rules/vocabulary/knowledge/products.tsv', ['rxcui', 'name', 'tty', 'ingredients', 'source'],
      [dict(v, ingredients=';'.join(v['ings'])) for v in sorted(products.values(), key=lambda v: int(v['rxcui']))])
# Words an allergy may be recorded under, per class (free-text AllergyIntolerance.code.text).
CLASS_SYNONYMS = {'penicillins': 'penicillin;penicillins;pcn', 'cephalosporins': 'cephalosporin;cephalosporins',
                  'sulfonamide-antibiotics': 'sulfa;sulfa drugs;sulfonamide;sulfonamides;sulfonamide antibiotics',
                  'nsaids-aspirin-cox-1-inhibitors': 'nsaid;nsaids', 'opioids': 'opioid;opioids;opiate;opiates',
                  'ace-inhibitors': 'ace inhibitor;ace inhibitors', 'macrolides': 'macrolide;macrolides',
                  'fluoroquinolones': 'quinolone;quinolones;fluoroquinolone', 'carbapenems': 'carbapenem',
                  'aromatic-anticonvulsants': 'aromatic anticonvulsant'}
write('rules/vocabulary/knowledge/classes.tsv', ['id', 'name', 'kind', 'members', 'synonyms', 'source'],
      [dict(v, kind=','.join(sorted(v['kinds'])), members=';'.join(v['members']),
            synonyms=CLASS_SYNONYMS.get(v['id'], '')) for v in classes.values()])
if not os.path.exists(os.path.join(ROOT, 'rules/interactions/knowledge/interactions.tsv')) or '--interactions' in sys.argv:
    write('rules/interactions/knowledge/interactions.tsv',
          ['id', 'a', 'a_label', 'b', 'b_label', 'severity', 'list', 'mechanism', 'consequence', 'management',
           'alternative', 'source'], interactions)
print(f'{len(ingr)} ingredients, {len(products)} products, {len(classes)} classes, {len(interactions)} interactions')
