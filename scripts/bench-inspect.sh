#!/usr/bin/env bash
# Median wall time of `dcor inspect --check` on the (fixed) sample host, 10 runs
# (configuration checks only: the sample host has no CKAN database for orphans).
set -euo pipefail
dcor=$(realpath "$1")
dir=$(mktemp -d /tmp/dcor-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT
go run ./tools/samplehost "$dir/host"
"$dcor" --root "$dir/host" inspect --skip orphans -y >/dev/null
for state in clean drifted; do
  if [ $state = drifted ]; then rm -rf "$dir/host"; go run ./tools/samplehost "$dir/host"; fi
  times=()
  for i in $(seq 10); do
    s=$(date +%s%N)
    "$dcor" --root "$dir/host" inspect --skip orphans --check >/dev/null || true
    e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (a[5]+a[6])/2}')
  awk -v s="$state" -v m="$median" 'BEGIN { printf "dcor inspect --check, %s sample host: median of 10 runs %.1f ms\n", s, m/1000 }'
done
