#!/usr/bin/env python3
"""List every RxNorm code that appears in ../shared/corpus (Synthea bundles and NDJSON, PDDI-CDS
requests, CDS Hooks examples, FHIR examples) with a display, as fixtures/corpus-rxnorm-codes.tsv.
tests/unit/test_corpus_codes.c checks that the knowledge base resolves each one.
usage: tools/corpus_rxnorm_codes.py [CORPUS_DIR] > fixtures/corpus-rxnorm-codes.tsv"""
import json, os, sys

CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '../../shared/corpus')
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
codes = {}

def walk(o, where):
    if isinstance(o, dict):
        if o.get("system") == RX and isinstance(o.get("code"), str):
            codes.setdefault(o["code"], (o.get("display") or "", where))
        for v in o.values():
            walk(v, where)
    elif isinstance(o, list):
        for v in o:
            walk(v, where)

for root, _, files in os.walk(CORPUS):
    for f in sorted(files):
        p = os.path.join(root, f)
        rel = os.path.relpath(p, CORPUS)
        if f.endswith(".json"):
            try:
                walk(json.load(open(p)), rel)
            except ValueError:
                pass
        elif f.endswith(".ndjson"):
            for line in open(p):
                if line.strip():
                    walk(json.loads(line), rel)
print("code\tdisplay\tfirst_seen")
for c in sorted(codes, key=int):
    d, w = codes[c]
    print(f"{c}\t{d}\t{w}")
