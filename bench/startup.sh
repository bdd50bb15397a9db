#!/usr/bin/env bash
# Start-up benchmark: starts the published service with the default models N times (default 5) and prints, per run
# and as medians, the seconds from the process start to /health/ready 200 (classification and detection serve) and
# to the first Grad-CAM answered by POST /cam on the default classifier (its layers checked in the background).
# Writes bench/results/startup.md.
#   bash bench/startup.sh [runs, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
port=5091
work=$(mktemp -d)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "== publish"
dotnet publish src/RffService.Api/RffService.Api.csproj -c Release -o "$work/app" --nologo -v quiet

since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN {printf "%.2f", a - b}'; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

readies=() cams=()
for i in $(seq 1 "$runs"); do
  t0=$(date +%s.%N)
  ASPNETCORE_URLS="http://127.0.0.1:$port" Inference__ModelsPath="$PWD/models" Serilog__MinimumLevel__Default=Warning \
    dotnet "$work/app/RffService.Api.dll" > "$work/service-$i.log" 2>&1 &
  service=$!
  until curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null; do sleep 0.02; done
  ready=$(since "$t0")
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -F image=@samples/shirt.png "http://127.0.0.1:$port/cam?method=gradcam")" = 200 ]; do sleep 0.05; done
  cam=$(since "$t0")
  kill -TERM "$service"; wait "$service" 2> /dev/null || true
  echo "run $i: ready ${ready} s, first Grad-CAM ${cam} s"
  readies+=("$ready") cams+=("$cam")
done
ready_median=$(printf '%s\n' "${readies[@]}" | median)
cam_median=$(printf '%s\n' "${cams[@]}" | median)
echo "median over $runs runs: ready ${ready_median} s, first Grad-CAM ${cam_median} s"

{
  echo "# Start-up"
  echo
  echo "\`bash bench/startup.sh $runs\`: the published service (Release) with the default models, $(nproc) cores; seconds from the"
  echo "process start. Ready = /health/ready 200 (every model serves classification and detection); first Grad-CAM = the first"
  echo "200 from POST /cam?method=gradcam on samples/shirt.png (the default classifier's layers are checked in the background)."
  echo
  echo "| run | ready s | first Grad-CAM s |"
  echo "|---:|---:|---:|"
  for i in $(seq 1 "$runs"); do echo "| $i | ${readies[$((i - 1))]} | ${cams[$((i - 1))]} |"; done
  echo "| median | $ready_median | $cam_median |"
} > bench/results/startup.md
rm -rf "$work"
