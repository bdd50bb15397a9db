#!/usr/bin/env bash
# Hostile-traffic benchmark: the published service with the default models under the sequences that used to exhaust
# it, printing the process's RSS (before, peak, after) and the answers:
#   1. 200 distinct 2- and 3-layer lists on GET-style /cam (POST with the image) of the default classifier;
#   2. 50 concurrent Score-CAM channels=all&layer=all requests (each must be refused at once: 422 or 503, no 504);
#   3. /classify p50/p99 alone, then while 8 clients keep expensive explanations running on the same model.
# Writes bench/results/hostile.md.   bash bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port=5092
base="http://127.0.0.1:$port"
work=$(mktemp -d)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
python=/usr/bin/python3; [ -x "$python" ] || python=python3

echo "== publish"
dotnet publish src/RffService.Api/RffService.Api.csproj -c Release -o "$work/app" --nologo -v quiet
ASPNETCORE_URLS="$base" Api__GrpcPort=0 Inference__ModelsPath="$PWD/models" Serilog__MinimumLevel__Default=Warning \
  dotnet "$work/app/RffService.Api.dll" > "$work/service.log" 2>&1 &
service=$!
trap 'kill $service 2> /dev/null || true; rm -rf "$work"' EXIT
until curl -sf "$base/health/ready" > /dev/null; do sleep 0.1; done
until curl -s "$base/models" | grep -q '"explanations":"ready".*"explanations":"ready".*"explanations":"ready"'; do sleep 0.2; done

rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$service/status"; }
sample() { while kill -0 "$service" 2> /dev/null; do rss >> "$work/rss-$1"; sleep 0.1; done; }
peak() { sort -n "$work/rss-$1" | tail -1; }
percentile() { sort -n | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p); if (i < 1) i = 1; printf "%.1f", v[i] * 1000}'; }
image=samples/shirt.png

echo "== 1. 200 distinct layer lists"
"$python" - "$base" > "$work/lists" <<'PY'
import itertools, json, sys, urllib.parse, urllib.request
layers = [l["name"] for l in json.load(urllib.request.urlopen(sys.argv[1] + "/models/rff-cnn-fashion-gap"))["camLayers"] if l["state"] == "ready"]
lists = list(itertools.permutations(layers, 2)) + list(itertools.combinations(layers, 3))
for chosen in lists[:200]:
    print(urllib.parse.quote(",".join(chosen)))
PY
before1=$(rss); : > "$work/rss-1"; sample 1 & sampler=$!
codes1=$(xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' -F image=@$image "$base/cam?layer={}&faithfulness=false" < "$work/lists" | sort | uniq -c | tr '\n' ' ')
kill $sampler; sleep 1; after1=$(rss)
graphs=$(curl -s "$base/metrics" | awk '/^rff_explanation_graph_bytes / {printf "%.0f", $2 / 1048576} /^rff_explanation_graph_evictions_total / {printf " MiB kept, %d evicted", $2}')
echo "lists: $(wc -l < "$work/lists"); answers: $codes1; RSS before $before1 MiB, peak $(peak 1) MiB, after $after1 MiB; graphs: $graphs"

echo "== 2. 50 concurrent Score-CAM channels=all&layer=all"
before2=$(rss); : > "$work/rss-2"; sample 2 & sampler=$!
seq 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -F image=@$image \
  "$base/cam?method=scorecam&channels=all&layer=all" > "$work/flood"
kill $sampler; after2=$(rss)
codes2=$(cut -d' ' -f1 "$work/flood" | sort | uniq -c | tr '\n' ' ')
slowest2=$(cut -d' ' -f2 "$work/flood" | sort -n | tail -1)
echo "answers: $codes2; slowest answer ${slowest2} s; RSS before $before2 MiB, peak $(peak 2) MiB, after $after2 MiB"

echo "== 3. /classify alone, then beside 8 clients of expensive explanations"
classify() { for _ in $(seq 300); do curl -s -o /dev/null -w '%{time_total}\n' -H "Content-Type: image/png" --data-binary @$image "$base/classify"; done; }
classify > "$work/alone"
explain() { while [ ! -f "$work/stop" ]; do curl -s -o /dev/null -F image=@$image "$base/cam?method=scorecam&channels=all&faithfulness=false"; done; }
for _ in $(seq 8); do explain & done
sleep 1
classify > "$work/loaded"
touch "$work/stop"; wait $(jobs -p | grep -v "^$service$") 2> /dev/null || true
p50a=$(percentile 0.5 < "$work/alone"); p99a=$(percentile 0.99 < "$work/alone")
p50l=$(percentile 0.5 < "$work/loaded"); p99l=$(percentile 0.99 < "$work/loaded")
ratio=$(awk -v a="$p99a" -v b="$p99l" 'BEGIN {printf "%.1f", b / a}')
echo "classify alone p50 ${p50a} ms p99 ${p99a} ms; with 8 explaining clients p50 ${p50l} ms p99 ${p99l} ms (p99 ${ratio}x)"

{
  echo "# Hostile traffic"
  echo
  echo "\`bash bench/hostile.sh\`: the published service (Release) with the default models, $(nproc) cores, curl on the same cores."
  echo
  echo "| sequence | answers | RSS before / peak / after (MiB) | other |"
  echo "|---|---|---|---|"
  echo "| 200 distinct 2- and 3-layer lists, POST /cam, 4 at a time | $codes1 | $before1 / $(peak 1) / $after1 | explanation graphs: $graphs |"
  echo "| 50 concurrent Score-CAM channels=all&layer=all | $codes2 | $before2 / $(peak 2) / $after2 | slowest answer ${slowest2} s |"
  echo "| /classify (300 sequential), alone / beside 8 clients running Score-CAM channels=all | p50 ${p50a} / ${p50l} ms, p99 ${p99a} / ${p99l} ms | | p99 ratio ${ratio}x |"
} > bench/results/hostile.md
cat bench/results/hostile.md
