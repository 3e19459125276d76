#!/usr/bin/env bash
# The synthetic-screen validation with a model trained on a GPU, sized for ten minutes of an
# H200: the `small` preset (25 M parameters) trained for MINUTES (default 5) on 512 fields per
# condition, then run.sh's validation with that model (translate, evaluate, summarize; 100
# DDIM steps by default). Usage: bash experiments/synthetic_screen/gpu.sh [WORKDIR]
# MINUTES, BATCH (default 128), TRANSLATE_STEPS (default 100) and N (default 32) may be set.
# On a CPU it runs too (MINUTES=2 BATCH=8 MODEL_PRESET=tiny for a smoke test), just slowly.
set -euo pipefail
W=${1:-runs/gpu}
MINUTES=${MINUTES:-5}
BATCH=${BATCH:-128}
PRESET=${MODEL_PRESET:-small}
mkdir -p "$W"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU found"
[ -d "$W/screen" ] || phendiff synth "$W/screen" --per-condition 512 --seed 0 -q
[ -f "$W/run/config.yaml" ] || python experiments/synthetic_screen/train_for.py "$W/screen" "$W/run" \
  --minutes "$MINUTES" --model "$PRESET" --batch-size "$BATCH"
MODEL="$W/run" TRANSLATE_STEPS=${TRANSLATE_STEPS:-100} bash experiments/synthetic_screen/run.sh "$W"
