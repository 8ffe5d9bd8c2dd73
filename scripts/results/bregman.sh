#!/usr/bin/env bash
# Regenerates the learned-Bregman retrieval table of docs/bregman.md:
#   Fashion-MNIST and MNIST, train on classes 0–4 (400 training images per class), test on classes 5–9
#   (200 test images per class, leave-one-out retrieval), MLP 784→256→32 + L2 normalisation, triplet loss
#   (margin 0.2, batch-hard mining, M-per-class batches 5 × 16), AdamW lr 1e-3, 2 epochs, seeds 0, 1, 2.
# Usage: scripts/results/bregman.sh [OUT_DIR]   (DISTEMBED_DATA must point at the data root; default /work/data)
# Prints a Markdown table (mean ± sample std over the seeds) and leaves the per-run JSON in OUT_DIR/runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-artifacts/bregman}"
export DISTEMBED_DATA="${DISTEMBED_DATA:-/work/data}"
mkdir -p "$out"
dotnet build -c Release src/Cli/Cli.csproj -v q -nologo > "$out/build.log"
cli="dotnet src/Cli/bin/Release/net10.0/DistEmbed.Cli.dll"
runs="$out/runs.jsonl"
: > "$runs.tmp"
for data in fashion-mnist mnist; do
  for generator in euclidean cosine quadratic max-affine icnn; do
    for seed in 0 1 2; do
      $cli train-bregman --data "$data" --generator "$generator" --seed "$seed" --epochs 2 \
        --train-per-class 400 --test-per-class 200 --miner batch-hard --lr 1e-3 --device cpu --json >> "$runs.tmp"
      tail -n 1 "$runs.tmp" >&2
    done
  done
done
mv "$runs.tmp" "$runs"
jq -rs '
  def mean: add / length;
  def sd: (mean) as $m | if length > 1 then (map((. - $m) * (. - $m)) | add / (length - 1) | sqrt) else 0 end;
  def r3: . * 1000 | round / 1000;
  def cell(f): map(f) | "\(mean | r3) ± \(sd | r3)";
  . as $all
  | "| data | divergence | P@1 | R-precision | MAP@R | train s (mean) |",
    "|---|---|---|---|---|---|",
    ( ["fashion-mnist", "mnist"][] as $d
      | ["euclidean", "cosine", "quadratic", "max-affine", "icnn"][] as $g
      | [$all[] | select(.data == $d and .generator == $g)]
      | select(length > 0)
      | "| \($d) | \($g) | \(cell(.precision_at_1)) | \(cell(.r_precision)) | \(cell(.map_at_r)) | \(map(.train_seconds) | mean | round) |" )
' "$runs"
