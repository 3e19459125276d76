#!/usr/bin/env bash
# The synthetic-screen validation with a model trained on a GPU, sized for ten minutes of an
# H200: the `small` preset (25 M parameters) trained for MINUTES (default 5) on SYNTH_N (512)
# fields per condition, then run.sh's validation with that model (translate N = 32 held-out
# DMSO fields to every condition at the default settings, evaluate, summarize).
#
#   bash experiments/synthetic_screen/gpu.sh [WORKDIR]          # default WORKDIR: runs/gpu
#
# MINUTES, BATCH (128), MODEL_PRESET (small), SYNTH_N (512), N (32), TRANSLATE_STEPS (25) may
# be set, and TRAIN_ARGS (more train_for.py options, e.g. "--loss-weighting edm", the demo
# model's recipe, against the default uniform t); EVALUATE=0 stops after the
# translation (a GPU machine without the FID wheel: copy WORKDIR/translated and
# WORKDIR/inputs back and run the evaluate line of run.sh there).
# Each stage's wall time is printed. On a CPU it runs too, slowly (smoke test:
# MINUTES=0.5 BATCH=8 MODEL_PRESET=tiny SYNTH_N=16 N=4).
set -euo pipefail
W=${1:-runs/gpu}
MINUTES=${MINUTES:-5}
BATCH=${BATCH:-128}
PRESET=${MODEL_PRESET:-small}
SYNTH_N=${SYNTH_N:-512}
mkdir -p "$W"
stage() { echo "[gpu.sh $(date +%T), ${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU found"
stage "synth $SYNTH_N fields per condition"
[ -d "$W/screen" ] || phendiff synth "$W/screen" --per-condition "$SYNTH_N" --seed 0 -q
stage "train $PRESET for $MINUTES min, batch $BATCH"
[ -f "$W/run/config.yaml" ] || python experiments/synthetic_screen/train_for.py "$W/screen" \
  "$W/run" --minutes "$MINUTES" --model "$PRESET" --batch-size "$BATCH" ${TRAIN_ARGS:-}
stage "validate (run.sh)"
MODEL="$W/run" TRANSLATE_STEPS=${TRANSLATE_STEPS:-25} bash experiments/synthetic_screen/run.sh "$W"
stage "done"
