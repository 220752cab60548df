#!/usr/bin/env bash
# Hashes of what the user path produces (mars-sim -> mars-count, defaults) on three runs: the tracks of every
# camera (MOTChallenge files) and the mapped flowers (id, x, y, z, lat, lon, alt). A refactoring that must not
# change behaviour keeps all three lines identical.   usage: benchmarks/output_fingerprint.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
py=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
for run in "quick 8" "hard 1" "field-gnss 2"; do
  set -- $run
  "$py" -m mars_sim.cli --preset "$1" --seed "$2" --out "$out/sim_$1$2" > "$out/sim_$1$2.log" 2>&1
  "$py" -m mars_pipeline.count_cli "$out/sim_$1$2/bag" --out "$out/count_$1$2" > "$out/count_$1$2.log" 2>&1
  echo "$1 $2 tracks: $(cat "$out/count_$1$2"/tracks/*.txt | sha1sum | cut -c1-12)" \
       "flowers: $(cut -d, -f1-7 "$out/count_$1$2/flowers.csv" | sha1sum | cut -c1-12)" \
       "n=$(($(wc -l < "$out/count_$1$2/flowers.csv") - 1))"
done
