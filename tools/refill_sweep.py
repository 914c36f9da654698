#!/usr/bin/env python3
# tools/refill_sweep.py — nuisance-alert sweep: each Synthea dev patient (../shared/corpus/synthea-dev,
# synthetic) with every active order re-ordered as a draft, as a refill with its own dosage; prints
# the cards per rule. A stable patient's correct refills should draw few alerts (a CPOE test counts
# nuisance alerts). usage: tools/refill_sweep.py [BUILD_DIR]
import json, glob, subprocess, collections, sys, os, tempfile
TMP = os.path.join(tempfile.mkdtemp(), "req.json")
# Each Synthea dev patient: every active MedicationRequest re-ordered as a draft (a refill with
# Synthea's own dosage), the rest as the active list. Count the cards per rule: a correct refill
# of a stable patient's meds should draw few alerts.
counts=collections.Counter(); examples=collections.defaultdict(list); n=0
for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'corpus', 'synthea-dev', '*.json'))):
    out=subprocess.run(['python3', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'synthea_to_request.py'), path],capture_output=True,text=True).stdout
    req=json.loads(out)
    meds=req['prefetch']['medications']['entry']
    if not meds: continue
    drafts=[]
    for e in meds:
        r=dict(e['resource']); r['status']='draft'; drafts.append({'resource':r})
    req['context']['draftOrders']={'resourceType':'Bundle','entry':drafts}
    req['prefetch']['medications']['entry']=[]
    json.dump(req,open(TMP,'w'))
    res=subprocess.run([os.path.join(sys.argv[1] if len(sys.argv) > 1 else 'build', 'cdsd'),'eval','medication-safety',TMP],capture_output=True,text=True)
    try: cards=json.loads(res.stdout)['cards']
    except Exception: print('ERR',path,res.stderr[:200]); continue
    n+=1
    for c in cards:
        rule=c['source']['topic']['code']; counts[rule]+=1
        if len(examples[rule])<4: examples[rule].append(c['indicator']+' '+c['summary'])
print(n,'patients')
for r,k in counts.most_common(): print(f'{k:4d} {r}'); [print('      ',x) for x in examples[r]]
