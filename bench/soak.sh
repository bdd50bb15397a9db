#!/usr/bin/env bash
# Soak test: mixed /classify, /detect and /cam traffic against the published service for a while (default 10
# minutes), then requests served, errors, and the process's memory at the start and the end (from /metrics).
#   bash bench/soak.sh [seconds, default 600] [concurrency per endpoint, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
concurrency=${2:-4}
port=5091
work=$(mktemp -d)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v hey > /dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"; $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends hey > /dev/null; }

dotnet publish src/RffService.Api/RffService.Api.csproj -c Release -o "$work/app" --nologo -v quiet
dotnet run -c Release --project src/RffService.Training -- sample-canvases --out "$work" --count 3 > /dev/null
dotnet run -c Release --project bench/RffService.Benchmarks -- sample-png "$work/item.png"

(cd "$work/app" && ASPNETCORE_URLS="http://127.0.0.1:$port" Inference__ModelsPath="$OLDPWD/models" Serilog__MinimumLevel__Default=Warning \
  exec dotnet RffService.Api.dll) > "$work/service.log" 2>&1 &
service=$!
until curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null; do sleep 0.1; done
memory() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^process_working_set_bytes / {printf "%.0f", $2 / 1048576}'; }
start_memory=$(memory)
echo "soak: $seconds s, $concurrency clients per endpoint; working set at start ${start_memory} MiB"

base="http://127.0.0.1:$port"
hey -z "${seconds}s" -c "$concurrency" -m POST -T image/png -D "$work/item.png" "$base/classify" > "$work/classify.txt" &
hey -z "${seconds}s" -c "$concurrency" -m POST -T image/png -D "$work/canvas-2.png" "$base/detect?overlay=true" > "$work/detect.txt" &
hey -z "${seconds}s" -c "$concurrency" -m POST -T image/png -D "$work/item.png" "$base/cam?method=gradcam" > "$work/cam.txt" &
wait %2 %3 %4 2> /dev/null || wait
end_memory=$(memory)
curl -sf "$base/health/ready" > /dev/null && healthy=yes || healthy=no
kill -TERM "$service"; wait "$service" 2> /dev/null; status=$?

summary() {
  awk -v name="$1" '
    /Requests\/sec/ { rps = $2 }
    / 50% in/ { p50 = $3 * 1000 } / 99% in/ { p99 = $3 * 1000 }
    /Status code distribution/ { s = 1; next } /Error distribution/ { e = 1; s = 0; next }
    s && /\[[0-9]+\]/ { code = $1; gsub(/[][]/, "", code); n += $2; if (code != 200) bad += $2 }
    e && /\[[0-9]+\]/ { c = $1; gsub(/[][]/, "", c); bad += c; n += c }
    END { printf "| %s | %d | %.1f | %.1f | %.1f | %d |\n", name, n, rps, p50, p99, bad }' "$2"
}
{
  echo "| endpoint | requests | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|"
  summary "/classify" "$work/classify.txt"
  summary "/detect?overlay=true" "$work/detect.txt"
  summary "/cam (gradcam)" "$work/cam.txt"
  echo
  echo "Working set: ${start_memory} MiB at the start, ${end_memory} MiB at the end; ready after the soak: $healthy; exit code after SIGTERM: $status."
} | tee bench/results/soak.md
