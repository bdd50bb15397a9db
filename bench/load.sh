#!/usr/bin/env bash
# Load benchmark: the published service under `hey` on /classify and /detect with real PNG bodies at concurrency
# 1, 4, 16, 64, with dynamic batching on and off (the naive baseline: one ONNX Runtime run per request), next to the
# in-process limit (decode + ONNX Runtime, no HTTP). Writes bench/results/load.md.
#   bash bench/load.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
port=5090
work=$(mktemp -d)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v hey > /dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends hey > /dev/null
fi

echo "== build"
dotnet publish src/RffService.Api/RffService.Api.csproj -c Release -o "$work/app" --nologo -v quiet
dotnet build bench/RffService.Benchmarks -c Release --nologo -v quiet
dotnet run -c Release --no-build --project bench/RffService.Benchmarks -- sample-png "$work/item.png"
dotnet run -c Release --project src/RffService.Training -- sample-canvases --out "$work" --count 3 > /dev/null
canvas="$work/canvas-2.png"

start_service() { # $1 = batching on|off; sets $service and $ready (seconds from start to /health/ready)
  local enabled=true; [ "$1" = off ] && enabled=false
  local t0; t0=$(date +%s.%N)
  ASPNETCORE_URLS="http://127.0.0.1:$port" Inference__ModelsPath="$PWD/models" Inference__Batching__Enabled=$enabled \
    Serilog__MinimumLevel__Default=Warning Inference__MaxBatchImages=64 \
    dotnet "$work/app/RffService.Api.dll" > "$work/service-$1.log" 2>&1 &
  service=$!
  until curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null; do sleep 0.05; done
  ready=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.2f", a - b}')
}

stop_service() { kill -TERM "$service"; wait "$service" 2> /dev/null || true; }

# run <path> <body> <concurrency> [qps per worker] -> "req/s p50_ms p99_ms errors" (errors: non-200 answers and failed requests)
run() {
  local out; out=$(hey -z "${seconds}s" -c "$3" ${4:+-q "$4"} -m POST -T image/png -D "$2" "http://127.0.0.1:$port$1")
  awk '
    /Requests\/sec/ { rps = $2 }
    / 50% in/ { p50 = $3 * 1000 }
    / 99% in/ { p99 = $3 * 1000 }
    /Status code distribution/ { s = 1; e = 0; next }
    /Error distribution/ { e = 1; s = 0; next }
    s && /\[[0-9]+\]/ { code = $1; gsub(/[][]/, "", code); if (code != 200) bad += $2 }
    e && /\[[0-9]+\]/ { n = $1; gsub(/[][]/, "", n); bad += n }
    END { printf "%.1f %.2f %.2f %d\n", rps, p50, p99, bad }' <<< "$out"
}

declare -A result
for mode in on off; do
  start_service $mode
  result[ready_$mode]=$ready
  echo "== batching $mode (ready after ${ready}s)"
  run "/classify?model=rff-cnn-fashion" "$work/item.png" 4 > /dev/null # warm-up
  for c in 1 4 16 64; do
    result[classify_${mode}_$c]=$(run "/classify?model=rff-cnn-fashion" "$work/item.png" $c)
    echo "classify c=$c: ${result[classify_${mode}_$c]}"
    result[detect_${mode}_$c]=$(run "/detect?model=rff-ssd-fashion" "$canvas" $c)
    echo "detect   c=$c: ${result[detect_${mode}_$c]}"
  done
  if [ $mode = on ]; then
    # p99 at 70% of the saturated throughput (the best of c=16 and c=64), 16 workers.
    for what in classify detect; do
      sat=$(for c in 16 64; do awk '{print $1}' <<< "${result[${what}_on_$c]}"; done | sort -g | tail -1)
      qps=$(awk -v s="$sat" 'BEGIN {q = s * 0.7 / 16; printf "%.2f", q < 0.1 ? 0.1 : q}')
      path="/classify?model=rff-cnn-fashion"; body="$work/item.png"
      [ $what = detect ] && path="/detect?model=rff-ssd-fashion" && body=$canvas
      result[${what}_70]=$(run "$path" "$body" 16 "$qps")
      echo "$what at 70% of $sat req/s: ${result[${what}_70]}"
    done
  fi
  stop_service
done

echo "== in-process limit"
limit_out=$(dotnet run -c Release --no-build --project bench/RffService.Benchmarks -- limit --seconds "$seconds")
echo "$limit_out"
limit_classify=$(awk '/rff-cnn-fashion limit/ {print $3}' <<< "$limit_out")
limit_detect=$(awk '/rff-ssd-fashion limit/ {print $3}' <<< "$limit_out")

field() { awk -v i="$2" '{print $i}' <<< "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

{
  echo "# Load benchmark"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(. /etc/os-release; echo "$PRETTY_NAME"), .NET $(dotnet --version), no GPU (CPUExecutionProvider)."
  echo "Date: $(date -u +%Y-%m-%d). Command: \`bash bench/load.sh $seconds\` ($seconds s per run, \`hey\`, one 28x28 Fashion-MNIST PNG for /classify, one 128x128 canvas PNG for /detect, client on the same 2 cores)."
  echo
  echo "Start to /health/ready (published app, three models warmed up): ${result[ready_on]} s (batching on), ${result[ready_off]} s (off)."
  echo
  echo "In-process limit (decode + ONNX Runtime, best batch size, no HTTP): classify $limit_classify images/s, detect $limit_detect images/s."
  echo
  for what in classify detect; do
    limit=$limit_classify; [ $what = detect ] && limit=$limit_detect
    echo "## /$what"
    echo
    echo "| concurrency | batched req/s | p50 ms | p99 ms | errors | naive req/s | naive p50 | naive p99 | naive errors | batched / limit | batched / naive |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for c in 1 4 16 64; do
      on=${result[${what}_on_$c]}; off=${result[${what}_off_$c]}
      echo "| $c | $(field "$on" 1) | $(field "$on" 2) | $(field "$on" 3) | $(field "$on" 4) | $(field "$off" 1) | $(field "$off" 2) | $(field "$off" 3) | $(field "$off" 4) | $(ratio "$(field "$on" 1)" "$limit") | $(ratio "$(field "$on" 1)" "$(field "$off" 1)") |"
    done
    seventy=${result[${what}_70]}
    echo
    echo "At 70% of the saturated throughput (16 workers, rate-limited): $(field "$seventy" 1) req/s, p50 $(field "$seventy" 2) ms, p99 $(field "$seventy" 3) ms, p99/p50 $(ratio "$(field "$seventy" 3)" "$(field "$seventy" 2)"), errors $(field "$seventy" 4)."
    echo
  done
} > bench/results/load.md
cat bench/results/load.md
