#!/usr/bin/env python3
# tools/dose_fixtures.py — writes fixtures/dosing/*.json: draft MedicationRequests with real FHIR R4
# dosageInstruction (doseQuantity in UCUM, timing.repeat or a timing code, route in SNOMED CT,
# asNeeded, maxDosePerPeriod) for each dose and route check, firing and silent. Edit a case here
# and rerun; the JSON files are what `cdsd test` reads (synthetic patients only).
import json, os
import sys
OUT=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'dosing') + '/'
AT="2025-03-01T09:00:00Z"
UCUM="http://unitsofmeasure.org"; SCT="http://snomed.info/sct"; RX="http://www.nlm.nih.gov/research/umls/rxnorm"
ROUTES={'oral':('26643006','Oral route'),'iv':('47625008','Intravenous route'),'intrathecal':('72607000','Intrathecal route'),
        'sc':('34206005','Subcutaneous route'),'im':('78421000','Intramuscular route')}
def mr(id, code, display, dose=None, unit='mg', freq=None, period=1, period_unit='d', route=None, prn=False, text=None,
       timing_code=None, max_per_period=None, status='draft', raw_dose=None, extra=None):
    r={"resourceType":"MedicationRequest","id":id,"status":status,"intent":"order" if status=="active" else "proposal",
       "subject":{"reference":"Patient/patient"},
       "medicationCodeableConcept":{"coding":[{"system":RX,"code":code,"display":display}],"text":display}}
    di={}
    if text: di["text"]=text
    if dose is not None or raw_dose is not None:
        q=raw_dose if raw_dose is not None else {"value":dose,"unit":unit,"system":UCUM,"code":unit}
        di["doseAndRate"]=[{"doseQuantity":q}]
    if freq is not None:
        di["timing"]={"repeat":{"frequency":freq,"period":period,"periodUnit":period_unit}}
    if timing_code:
        di["timing"]={"code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation","code":timing_code}]}}
    if prn: di["asNeededBoolean"]=True
    if route:
        c,dsp=ROUTES[route]; di["route"]={"coding":[{"system":SCT,"code":c,"display":dsp}],"text":dsp}
    if max_per_period:
        n,u,per=max_per_period
        di["maxDosePerPeriod"]={"numerator":{"value":n,"unit":u,"system":UCUM,"code":u},"denominator":{"value":per,"unit":"d","system":UCUM,"code":"d"}}
    if extra: di.update(extra)
    if di: r["dosageInstruction"]=[di]
    return r
def fx(name, desc, drafts, expect=None, forbid=None, patient=None, meds=None, results=None, conditions=None, service="medication-safety", only=False):
    d={"description":desc,"service":service,"at":AT,"patient":patient or {"age":50,"sex":"female","weight_kg":70}}
    if meds: d["medications"]=meds
    if conditions: d["conditions"]=conditions
    if results: d["results"]=results
    d["drafts"]=drafts
    if expect: d["expect"]=expect
    if forbid: d["forbid"]=forbid
    if only: d["only"]=True
    open(OUT+name+'.json','w').write(json.dumps(d,indent=1)+"\n")
APAP500=("198440","acetaminophen 500 MG Oral Tablet")
# ---- dose.range
fx("range-acetaminophen-6g-a-day","Acetaminophen 500 mg tablets, 2 every 4 hours: 6 g a day exceeds the 4 g maximum (tablets converted through the product's strength)",
   [mr("d1",*APAP500,dose=2,unit="{tbl}",freq=6,route="oral")],
   expect=[{"rule":"dose.range","indicator":"warning","issue":"DOSEH","summary":"acetaminophen 6 g/day exceeds the 4 g/day maximum","detail":"every 4 hours = 6 g a day"}])
fx("range-acetaminophen-summed-across-products","Acetaminophen across two products: hydrocodone/acetaminophen 5/325 (2 tablets four times a day, active) plus acetaminophen 500 mg 2 tablets three times a day (draft) = 5.6 g a day: the sum exceeds 4 g though each alone does not",
   [mr("d1",*APAP500,dose=2,unit="{tbl}",freq=3,route="oral")],
   meds=[mr("a1","857002","acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet",dose=2,unit="{tbl}",freq=4,route="oral",status="active")],
   expect=[{"rule":"dose.range","summary":"acetaminophen 5.6 g/day exceeds the 4 g/day maximum","detail":"hydrocodone"}])
fx("range-ibuprofen-8-g-tenfold-critical","Ibuprofen 8 g (written in g) once: ten times the 800 mg single maximum reads as a decimal or unit slip: critical",
   [mr("d1","197805","Ibuprofen 400 MG Oral Tablet",dose=8,unit="g",freq=1,route="oral")],
   expect=[{"rule":"dose.range","indicator":"critical","summary":"ibuprofen 8 g per dose exceeds the 800 mg maximum single dose \\(10 times"}])
fx("range-methotrexate-daily-not-weekly","Oral methotrexate 10 mg once DAILY: a drug given once a week ordered daily: critical",
   [mr("d1","105585","methotrexate 2.5 MG Oral Tablet",dose=4,unit="{tbl}",freq=1,route="oral")],
   expect=[{"rule":"dose.range","indicator":"critical","issue":"DOSEIVL","summary":"methotrexate ordered once a day: it is given once a week"}])
fx("range-acetaminophen-prn-counted-at-its-most","Acetaminophen 1 g every 4 hours as needed: a PRN order counts at its most (6 doses, 6 g a day)",
   [mr("d1",*APAP500,dose=1000,unit="mg",freq=6,route="oral",prn=True)],
   expect=[{"rule":"dose.range","summary":"acetaminophen 6 g/day exceeds","detail":"as needed"}])
fx("range-acetaminophen-3g-silent","Acetaminophen 1 g three times a day (3 g a day): within the limits, silent",
   [mr("d1",*APAP500,dose=2,unit="{tbl}",freq=3,route="oral")], forbid=[{"rule":"dose.*"}])
fx("range-methotrexate-weekly-silent","Oral methotrexate 15 mg once a week (timing code WK): the usual schedule, silent",
   [mr("d1","105585","methotrexate 2.5 MG Oral Tablet",dose=6,unit="{tbl}",timing_code="WK",route="oral")], forbid=[{"rule":"dose.*"}])
fx("range-prn-capped-by-max-per-period-silent","Acetaminophen 1 g every 4 hours as needed, at most 3 g a day (maxDosePerPeriod): capped, silent",
   [mr("d1",*APAP500,dose=1000,unit="mg",freq=6,route="oral",prn=True,max_per_period=(3000,"mg",1))], forbid=[{"rule":"dose.*"}])
fx("range-ibuprofen-mcg-silent","Ibuprofen 400000 mcg (400 mg written in mcg) three times a day: units converted, within limits, silent",
   [mr("d1","197805","Ibuprofen 400 MG Oral Tablet",dose=400000,unit="ug",freq=3,route="oral")], forbid=[{"rule":"dose.*"}])
taper=mr("d1",*APAP500,route="oral")
taper["dosageInstruction"]=[
  {"sequence":1,"text":"1.5 g four times a day for 2 days","doseAndRate":[{"doseQuantity":{"value":1500,"unit":"mg","system":UCUM,"code":"mg"}}],
   "timing":{"repeat":{"frequency":4,"period":1,"periodUnit":"d","boundsDuration":{"value":2,"unit":"d","system":UCUM,"code":"d"}}},
   "route":{"coding":[{"system":SCT,"code":"26643006"}]}},
  {"sequence":2,"text":"then 500 mg three times a day","doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg","system":UCUM,"code":"mg"}}],
   "timing":{"repeat":{"frequency":3,"period":1,"periodUnit":"d"}},"route":{"coding":[{"system":SCT,"code":"26643006"}]}}]
fx("range-taper-largest-step","A taper in two dosage steps: 1.5 g four times a day, then 500 mg three times a day: the largest step (6 g a day) is above 4 g",
   [taper], expect=[{"rule":"dose.range","summary":"acetaminophen 6 g/day exceeds the 4 g/day maximum"}])
fx("range-indication-prednisone-asthma","Child 8 years, 30 kg, with asthma: prednisone 80 mg a day is above the asthma-exacerbation limit (60 mg a day; 2 mg/kg)",
   [mr("d1","198145","prednisone 10 MG Oral Tablet",dose=8,unit="{tbl}",freq=1,route="oral")], patient={"age":8,"sex":"female","weight_kg":30},
   conditions=[{"snomed":"195967001","display":"Asthma"}],
   expect=[{"rule":"dose.range","summary":"prednisone 80 mg/day exceeds the 60 mg/day maximum"},{"rule":"dose.weight","summary":"prednisone 80 mg/day exceeds 60 mg/day"}])
fx("range-indication-other-condition-silent","Child 8 years, 30 kg, with nephrotic syndrome (no asthma): the asthma-only limit does not apply to prednisone 80 mg a day, silent",
   [mr("d1","198145","prednisone 10 MG Oral Tablet",dose=8,unit="{tbl}",freq=1,route="oral")], patient={"age":8,"sex":"female","weight_kg":30},
   conditions=[{"text":"Nephrotic syndrome"}], forbid=[{"rule":"dose.range"},{"rule":"dose.weight"}])
# ---- dose.weight
child=lambda age,kg: {"age":age,"sex":"male","weight_kg":kg}
fx("weight-amoxicillin-suspension-child","Child 20 kg: amoxicillin 80 mg/mL suspension 10 mL three times a day = 2.4 g a day, 120 mg/kg a day above 90 mg/kg (mL through the concentration)",
   [mr("d1","308189","amoxicillin 80 MG/ML Oral Suspension",dose=10,unit="mL",freq=3,route="oral")], patient=child(6,20),
   expect=[{"rule":"dose.weight","indicator":"warning","issue":"DOSEHINDW","summary":"amoxicillin 2.4 g/day exceeds 1.8 g/day for this patient's weight","detail":"90 mg/kg"}])
fx("weight-acetaminophen-child-single-and-daily","Child 15 kg: acetaminophen 480 mg every 6 hours: 32 mg/kg per dose (limit 15) and 128 mg/kg a day (limit 75)",
   [mr("d1","161","acetaminophen",dose=480,unit="mg",freq=4,route="oral")], patient=child(4,15),
   expect=[{"rule":"dose.weight","summary":"acetaminophen 480 mg per dose exceeds 225 mg for this patient's weight"},
           {"rule":"dose.weight","summary":"acetaminophen 1.92 g/day exceeds 1.12 g/day"}])
fx("weight-enoxaparin-adult-per-kg","Adult 60 kg: enoxaparin 150 mg subcutaneously every 12 hours: 2.5 mg/kg per dose above 1.5 mg/kg",
   [mr("d1","854255","enoxaparin sodium 100 MG/ML Injectable Solution",dose=150,unit="mg",freq=2,route="sc")], patient={"age":60,"sex":"female","weight_kg":60},
   expect=[{"rule":"dose.weight","summary":"enoxaparin 150 mg per dose exceeds 90 mg for this patient's weight"}])
fx("weight-amoxicillin-ordered-per-kg","Child 20 kg: amoxicillin ordered as 60 mg/kg twice a day (a per-kg order times the weight): 120 mg/kg a day",
   [mr("d1","308189","amoxicillin 80 MG/ML Oral Suspension",dose=60,unit="mg/kg",freq=2,route="oral")], patient=child(6,20),
   expect=[{"rule":"dose.weight","summary":"amoxicillin 2.4 g/day exceeds"}])
fx("weight-missing-could-not-check","Child with no weight on file: the per-kg limit cannot be checked, and the card says so (info) instead of passing in silence",
   [mr("d1","308189","amoxicillin 80 MG/ML Oral Suspension",dose=5,unit="mL",freq=3,route="oral")], patient={"age":6,"sex":"male"},
   expect=[{"rule":"dose.weight","indicator":"info","summary":"Could not check the amoxicillin dose per kg: no body weight on file"}])
fx("weight-amoxicillin-child-correct-silent","Child 20 kg: amoxicillin 80 mg/mL 5 mL three times a day (60 mg/kg a day): correct, silent",
   [mr("d1","308189","amoxicillin 80 MG/ML Oral Suspension",dose=5,unit="mL",freq=3,route="oral")], patient=child(6,20), forbid=[{"rule":"dose.*"}])
fx("weight-enoxaparin-1-mg-per-kg-silent","Adult 60 kg: enoxaparin 60 mg every 12 hours (1 mg/kg): correct, silent",
   [mr("d1","854255","enoxaparin sodium 100 MG/ML Injectable Solution",dose=60,unit="mg",freq=2,route="sc")], patient={"age":60,"sex":"female","weight_kg":60},
   forbid=[{"rule":"dose.*"}])
# ---- dose.renal
old=lambda: {"age":70,"sex":"female","weight_kg":60}
fx("renal-metformin-egfr-25","Metformin with eGFR 25: contraindicated below 30: critical",
   [mr("d1","861007","metformin hydrochloride 500 MG Oral Tablet",dose=500,unit="mg",freq=2,route="oral")], patient=old(),
   results=[{"loinc":"62238-1","display":"eGFR CKD-EPI","value":25,"unit":"mL/min/{1.73_m2}","days_ago":5}],
   expect=[{"rule":"dose.renal","indicator":"critical","issue":"DOSECOND","summary":"metformin: avoid with eGFR 25","detail":"eGFR 25"}])
fx("renal-gabapentin-by-creatinine","Gabapentin 600 mg three times a day, creatinine 2.0 mg/dL, 70-year-old woman of 60 kg: Cockcroft-Gault CrCl about 25 mL/min, band 15-30, at most 700 mg a day",
   [mr("d1","310431","gabapentin 300 MG Oral Capsule",dose=2,unit="{cap}",freq=3,route="oral")], patient=old(),
   results=[{"loinc":"2160-0","display":"Creatinine","value":2.0,"unit":"mg/dL","days_ago":3}],
   expect=[{"rule":"dose.renal","indicator":"warning","summary":"gabapentin 1.8 g/day exceeds 700 mg/day for creatinine clearance","detail":"Cockcroft-Gault"}])
fx("renal-dabigatran-dialysis","Dabigatran 150 mg twice a day for a patient on dialysis (condition): avoid: critical",
   [mr("d1","1037045","dabigatran etexilate 150 MG Oral Capsule",dose=1,unit="{cap}",freq=2,route="oral")], patient=old(),
   conditions=[{"snomed":"105502003","display":"Dependence on renal dialysis"}],
   expect=[{"rule":"dose.renal","indicator":"critical","summary":"dabigatran etexilate: avoid with on dialysis"}])
fx("renal-enoxaparin-interval","Enoxaparin 40 mg every 12 hours with creatinine clearance under 30: once daily only",
   [mr("d1","854255","enoxaparin sodium 100 MG/ML Injectable Solution",dose=40,unit="mg",freq=2,route="sc")], patient=old(),
   results=[{"loinc":"2160-0","display":"Creatinine","value":2.2,"unit":"mg/dL","days_ago":1}],
   expect=[{"rule":"dose.renal","indicator":"warning","summary":"enoxaparin every 12 h: at creatinine clearance"}])
fx("renal-metformin-normal-egfr-silent","Metformin with eGFR 75: silent",
   [mr("d1","861007","metformin hydrochloride 500 MG Oral Tablet",dose=500,unit="mg",freq=2,route="oral")], patient=old(),
   results=[{"loinc":"62238-1","display":"eGFR CKD-EPI","value":75,"unit":"mL/min/{1.73_m2}","days_ago":5}], forbid=[{"rule":"dose.renal"}])
fx("renal-unknown-kidney-function-silent","Gabapentin 600 mg three times a day, no creatinine or eGFR on file: kidney function unknown, silent (not a finding)",
   [mr("d1","310431","gabapentin 300 MG Oral Capsule",dose=2,unit="{cap}",freq=3,route="oral")], patient=old(), forbid=[{"rule":"dose.renal"}])
# ---- route.check
fx("route-vincristine-intrathecal","Vincristine ordered intrathecally: a wrong route that has killed patients: critical",
   [mr("d1","11202","vincristine",dose=1.4,unit="mg",freq=1,route="intrathecal")],
   expect=[{"rule":"route.check","indicator":"critical","summary":"vincristine ordered by the intrathecal route: a wrong route that has been fatal"}])
fx("route-nimodipine-iv","Nimodipine ordered intravenously (capsule contents injected): critical",
   [mr("d1","7426","nimodipine",dose=60,unit="mg",freq=6,route="iv")],
   expect=[{"rule":"route.check","indicator":"critical"}])
fx("route-penicillin-g-benzathine-iv","Penicillin G benzathine ordered intravenously: critical",
   [mr("d1","7982","penicillin G benzathine",dose=2400000,unit="[iU]",freq=1,route="iv")],
   expect=[{"rule":"route.check","indicator":"critical"}])
fx("route-enoxaparin-im","Enoxaparin ordered intramuscularly: not a route for it: warning",
   [mr("d1","854255","enoxaparin sodium 100 MG/ML Injectable Solution",dose=40,unit="mg",freq=1,route="im")],
   expect=[{"rule":"route.check","indicator":"warning"}])
fx("route-vincristine-iv-silent","Vincristine 1.4 mg intravenously: the right route, silent",
   [mr("d1","11202","vincristine",dose=1.4,unit="mg",freq=1,route="iv")], forbid=[{"rule":"route.check"}])
fx("route-enoxaparin-sc-silent","Enoxaparin 40 mg subcutaneously once a day: silent",
   [mr("d1","854255","enoxaparin sodium 100 MG/ML Injectable Solution",dose=40,unit="mg",freq=1,route="sc")], forbid=[{"rule":"route.check"}])
# ---- dose.unchecked (bad input)
fx("unchecked-free-text-sig","Acetaminophen with only a free-text sig: 'dose not checked' (info), never guessed",
   [mr("d1",*APAP500,text="take two tablets when needed for pain")],
   expect=[{"rule":"dose.unchecked","indicator":"info","summary":"Dose not checked: .*free-text sig"}], forbid=[{"rule":"dose.range"}])
fx("unchecked-unit-banana-others-still-run","Two drafts: acetaminophen in unit 'banana' (not checked: info card) and ibuprofen 8 g (still checked: critical); the call succeeds",
   [mr("d1",*APAP500,raw_dose={"value":2,"unit":"banana"},freq=3,route="oral"),
    mr("d2","197805","Ibuprofen 400 MG Oral Tablet",dose=8,unit="g",freq=1,route="oral")],
   expect=[{"rule":"dose.unchecked","summary":"banana"},{"rule":"dose.range","indicator":"critical"}])
fx("unchecked-negative-dose","Acetaminophen -500 mg: not checked, the reason in words",
   [mr("d1",*APAP500,dose=-500,unit="mg",freq=3,route="oral")], expect=[{"rule":"dose.unchecked","summary":"negative"}])
fx("unchecked-frequency-zero","Acetaminophen 1 g with frequency 0: the daily dose is not checked, said so",
   [mr("d1",*APAP500,dose=1000,unit="mg",freq=0,route="oral")], expect=[{"rule":"dose.unchecked"}])
fx("unchecked-huge-dose","Acetaminophen 1e12 mg: implausible, not checked (never a number that overflows a comparison)",
   [mr("d1",*APAP500,dose=1e12,unit="mg",freq=1,route="oral")], expect=[{"rule":"dose.unchecked"}])
fx("unchecked-weight-700-kg","Child recorded at 700 kg (implausible): the per-kg dose could not be checked, said so; nothing crashes",
   [mr("d1","308189","amoxicillin 80 MG/ML Oral Suspension",dose=10,unit="mL",freq=3,route="oral")], patient={"age":6,"sex":"male","weight_kg":700},
   expect=[{"rule":"dose.weight","indicator":"info","detail":"implausible"}])
fx("unchecked-creatinine-zero","Gabapentin with a creatinine of 0 (implausible): the kidney dose could not be checked, said so (info)",
   [mr("d1","310431","gabapentin 300 MG Oral Capsule",dose=2,unit="{cap}",freq=3,route="oral")], patient={"age":70,"sex":"female","weight_kg":60},
   results=[{"loinc":"2160-0","display":"Creatinine","value":0,"unit":"mg/dL","days_ago":1}],
   expect=[{"rule":"dose.renal","indicator":"info","summary":"Could not check the gabapentin dose for kidney function","detail":"implausible"}])
fx("unchecked-no-dosage-silent","A draft with no dosage at all (the form is not filled in yet): nothing to say",
   [mr("d1",*APAP500)], forbid=[{"rule":"dose.*"}])
print("ok")
