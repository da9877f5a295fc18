#!/usr/bin/env bash
# Train the reverse-engineering models (and the copy descriptor) side by side on one GPU, with the recipes
# in configs/gpu:  bash experiments/train_reverse.sh [MINUTES] [RUNS_DIR] [NAME...]   (NAME: chain sceneparams copydesc)
# Needs data/photos-half (python experiments/pack_photos.py /usr/share/backgrounds data/photos-half).
# Each run's main process gets 2 CPU threads: its loader workers make the training inputs, and idle
# OpenMP threads spinning in three main processes starved them.
set -u
minutes=${1:-8}
runs=${2:-runs}
shift 2 2>/dev/null
names=${*:-chain sceneparams copydesc}
darkroom=${DARKROOM:-darkroom}
mkdir -p "$runs"

train() {  # NAME [extra args]
  local name=$1
  shift
  OMP_NUM_THREADS=2 $darkroom train "$name" --config "configs/gpu/$name.toml" --out "$runs/$name" --minutes "$minutes" \
    --quiet "$@" > "$runs/$name.log" 2>&1
  echo "$name: exit $? ($(tail -n 1 "$runs/$name.log" | cut -c1-200))"
}

for name in $names; do
  if [ "$name" = copydesc ]; then
    train copydesc --set train.init=copydesc &  # fine-tunes the CPU-trained descriptor
  else
    train "$name" &
  fi
done
wait
