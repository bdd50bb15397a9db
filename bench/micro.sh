#!/usr/bin/env bash
# Micro-benchmarks (BenchmarkDotNet, short-run jobs): managed RffConv vs ONNX Runtime's on the default classifier's
# layer shapes; decode + resize + normalise; softmax/top-k; SSD decode + NMS; each CAM method.
# Writes bench/results/micro.md.   bash bench/micro.sh [BenchmarkDotNet filter, default *]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
artifacts=$(mktemp -d)
dotnet run -c Release --project bench/RffService.Benchmarks -- micro --filter "${1:-*}" --artifacts "$artifacts" --exporters github
{
  echo "# Micro-benchmarks"
  echo
  echo "Command: \`bash bench/micro.sh\` ($(nproc) cores, $(date -u +%Y-%m-%d), BenchmarkDotNet short-run jobs)."
  for report in "$artifacts"/results/*-report-github.md; do echo; cat "$report"; done
} > bench/results/micro.md
cat bench/results/micro.md
