#!/usr/bin/env python3
"""Turn a Synthea FHIR R4 patient Bundle into a CDS Hooks order-sign request (JSON on stdout).

The patient's active MedicationRequests, AllergyIntolerances, Conditions and the latest
Observations become prefetch Bundles; --draft adds draft MedicationRequests (RxNorm code and
display). Names, addresses and identifiers are dropped: the request carries only what the rules
read. Synthea data is synthetic (Apache-2.0, (c) 2018 Boston Children's Hospital).

usage: synthea_to_request.py BUNDLE.json [--draft RXCUI:DISPLAY ...] [--hook order-sign]
"""
import argparse, json, uuid

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--draft", action="append", default=[])
    ap.add_argument("--hook", default="order-sign")
    ap.add_argument("--instance", default=None)
    a = ap.parse_args()
    b = json.load(open(a.bundle))
    res = [e["resource"] for e in b.get("entry", [])]
    pat = next(r for r in res if r["resourceType"] == "Patient")
    pid = pat["id"]
    patient = {"resourceType": "Patient", "id": pid, "gender": pat.get("gender"), "birthDate": pat.get("birthDate")}
    def bundle(rs):
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in rs]}
    meds = [r for r in res if r["resourceType"] == "MedicationRequest" and r.get("status") == "active"]
    allergies = [r for r in res if r["resourceType"] == "AllergyIntolerance"]
    conds = [r for r in res if r["resourceType"] == "Condition" and
             r.get("clinicalStatus", {}).get("coding", [{}])[0].get("code") == "active"]
    latest = {}
    for r in res:
        if r["resourceType"] != "Observation":
            continue
        code = r.get("code", {}).get("coding", [{}])[0].get("code")
        if code and (code not in latest or r.get("effectiveDateTime", "") > latest[code].get("effectiveDateTime", "")):
            latest[code] = r
    def strip(r):
        r = dict(r)
        for k in ("subject", "patient", "encounter", "context", "requester", "recorder", "asserter", "meta", "text"):
            r.pop(k, None)
        return r
    drafts = []
    for i, d in enumerate(a.draft):
        code, _, display = d.partition(":")
        drafts.append({"resource": {"resourceType": "MedicationRequest", "id": f"draft-{i + 1}", "status": "draft",
                                    "intent": "order", "subject": {"reference": f"Patient/{pid}"},
                                    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code,
                                                                              "display": display}],
                                                                  "text": display}}})
    req = {"hook": a.hook, "hookInstance": a.instance or str(uuid.uuid4()),
           "context": {"userId": "Practitioner/example", "patientId": pid,
                       "draftOrders": {"resourceType": "Bundle", "entry": drafts}},
           "prefetch": {"patient": patient, "medications": bundle([strip(r) for r in meds]),
                        "allergies": bundle([strip(r) for r in allergies]),
                        "conditions": bundle([strip(r) for r in conds]),
                        "observations": bundle([strip(r) for r in latest.values()])}}
    if a.hook == "order-select":
        req["context"]["selections"] = [f"MedicationRequest/{d['resource']['id']}" for d in drafts]
    print(json.dumps(req, indent=1))

main()
