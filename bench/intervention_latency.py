"""Intervened against plain /classify latency on a running service (default classifier, samples/shirt.png): medians of
200 interleaved rounds after 20 warm-up calls each.  python3 bench/intervention_latency.py [base-url]"""
import urllib.request, urllib.parse, time, statistics, sys
BASE = sys.argv[1] if len(sys.argv) > 1 else 'http://localhost:8080'
img=open('samples/shirt.png','rb').read()
def call(q):
    r=urllib.request.Request(BASE + '/classify?'+q, data=img, headers={'Content-Type':'image/png'})
    t=time.perf_counter(); urllib.request.urlopen(r).read(); return (time.perf_counter()-t)*1000
cases={'plain':'model=rff-cnn-fashion-gap'}
for layer in ['/features/features.0/RffConv','/features/features.7/Relu','/features/features.12/RffConv']:
    cases[layer]='model=rff-cnn-fashion-gap&ablate='+urllib.parse.quote(layer+':0,1,2')
for q in cases.values():
    for _ in range(20): call(q)
times={k:[] for k in cases}
for _ in range(200):
    for k,q in cases.items(): times[k].append(call(q))
p=statistics.median(times['plain'])
for k,v in times.items(): print(f"{k}: median {statistics.median(v):.2f} ms, ratio {statistics.median(v)/p:.2f}")
