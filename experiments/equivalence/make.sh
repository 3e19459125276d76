#!/usr/bin/env bash
# Every output kind phendiff writes, from one source tree: compare two trees with compare.py.
# Usage: bash experiments/equivalence/make.sh SRC OUT
#   SRC: a checkout's src/ folder (put first on PYTHONPATH, e.g. a `git worktree` of an older
#   commit); OUT: a new folder. Needs phendiff's dependencies in the active environment.
# About 30 minutes on a 2-core AVX2-only CPU (bf16 autocast is emulated there).
set -euo pipefail
export PYTHONPATH=$1
O=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$O"
python -c "import phendiff; print(phendiff.__file__)"
DEMO=$(python -c "from phendiff.demo import demo_model_path; print(demo_model_path())")
phendiff synth "$O/screen" --per-condition 6 --size 48 --seed 3 -q
phendiff synth "$O/heldout" --per-condition 8 --seed 1 -q
phendiff synth "$O/inputs" --per-condition 8 --seed 2 -q
phendiff train "$O/screen" --out "$O/run" --steps 12 --batch-size 8 --image-size 32 \
  --log-every 4 --sample-every 6 --checkpoint-every 6 --precision fp32 -q
phendiff train "$O/screen" --out "$O/run_bf16" --steps 6 --batch-size 4 --image-size 32 \
  --sample-every 3 -q
phendiff translate "$DEMO" "$O/inputs/DMSO" --source DMSO --out "$O/translated" --target DMSO \
  --target latrunculin@all --target nocodazole@all --target herbimycin@all --batch-size 8 -q
phendiff evaluate --real "$O/heldout" --translated "$O/translated" --out "$O/report" \
  --fid-weights random -q
phendiff evaluate --real "$O/heldout" --translated "$O/translated" --out "$O/report_cp" \
  --fid-weights random --features cp -q
python "$HERE/api_arrays.py" "$O/api.npz"
phendiff demo --out "$O/demo" -q
phendiff info "$O/run" > "$O/info.txt"
