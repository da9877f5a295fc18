#!/usr/bin/env bash
# Three inpainter candidates side by side on one GPU, MINUTES of wall clock each (default 8):
#   bash experiments/train_inpaint_gpu.sh [MINUTES] [RUNS_DIR] [PHOTOS]
#   long     the shipped `inpaint` fine-tuned on 256 px patches taken anywhere in the photos (jitter=1)
#   grid     the same on the fixed patch grid (the shipped recipe's data): what the jitter alone gives
#   deep     a 4-level U-Net (2.8M parameters) from scratch, 128 px then 256 px, jittered patches
# Outcome (8 minutes each, side by side, so each made ~2,400 steps at batch 16; medium masks, bench restore):
# shipped 24.22 dB in the hole, long 24.34, grid 24.32, deep 19.09 (too few steps from scratch). The shipped
# weights are `long` run alone for 8.6 minutes, then 6.3 more: configs/gpu/inpaint-jitter.toml, 25.11 dB.
# PHOTOS defaults to data/photos-half (experiments/pack_photos.py); score the runs beside the shipped model with
#   python benchmarks/restore.py --tasks inpaint --inpaint RUNS_DIR/long,RUNS_DIR/grid,RUNS_DIR/deep
set -u
minutes=${1:-8}
runs=${2:-runs}
photos=${3:-data/photos-half}
darkroom=${DARKROOM:-darkroom}
mkdir -p "$runs"
half=$(python3 -c "print(round($minutes * 0.45, 2))")
rest=$(python3 -c "print(round($minutes * 0.55, 2))")

train() {  # NAME CONFIG DATA MINUTES [extra args]
  local name=$1 config=$2 data=$3 budget=$4
  shift 4
  $darkroom train inpaint --config "configs/gpu/$config.toml" --data "$data" --out "$runs/$name" \
    --minutes "$budget" --set train.workers=4 --quiet "$@" > "$runs/$name.log" 2>&1
  echo "$name: exit $? ($(tail -n 1 "$runs/$name.log" | cut -c1-200))"
}

train long inpaint "photos:$photos,patch=256,jitter=1" "$minutes" --set train.init=inpaint &
train grid inpaint "photos:$photos,patch=256" "$minutes" --set train.init=inpaint &
(
  train deep-128 inpaint-128 "photos:$photos,patch=128,jitter=1" "$half" --set model.levels=4
  train deep inpaint "photos:$photos,patch=256,jitter=1" "$rest" --set model.levels=4 --set "train.init=$runs/deep-128"
) &
wait
