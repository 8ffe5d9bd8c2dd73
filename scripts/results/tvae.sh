#!/usr/bin/env bash
# Regenerates the TVAE results table of docs/tvae.md: VAE, TVAE and W-TVAE on MNIST and Fashion-MNIST, 3 seeds each,
# the paper's settings (MLP 784-400-20, 10 epochs of 60,000 random triplets, batch 128, Adam 1e-3), evaluated on
# 10,000 seeded test triplets. Runs already finished (their metrics.json exists) are kept, so the script resumes.
#   scripts/results/tvae.sh                 all 18 runs, then the table
#   scripts/results/tvae.sh --table-only    only the table from the runs that exist
# Environment: DISTEMBED_DATA (data root, see `distembed data where`), TVAE_OUT (default artifacts/results/tvae),
# TVAE_CLI (a built DistEmbed.Cli.dll to use instead of building), TVAE_THREADS (default 1), TVAE_DATASETS, TVAE_VARIANTS, TVAE_SEEDS (space-separated lists to run a part).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${TVAE_OUT:-artifacts/results/tvae}
THREADS=${TVAE_THREADS:-1}
DATASETS=${TVAE_DATASETS:-"mnist fashion-mnist"}
VARIANTS=${TVAE_VARIANTS:-"tvae vae wtvae"}
SEEDS=${TVAE_SEEDS:-"0 1 2"}
if [ "${1:-}" != "--table-only" ]; then
  CLI=${TVAE_CLI:-}
  if [ -z "$CLI" ]; then
    dotnet build src/Cli/Cli.csproj -c Release -v q -nologo >&2
    CLI=src/Cli/bin/Release/net10.0/DistEmbed.Cli.dll
  fi
  for data in $DATASETS; do
    for variant in $VARIANTS; do
      for seed in $SEEDS; do
        dir="$OUT/$data/$variant/seed$seed"
        if [ -f "$dir/metrics.json" ]; then echo "[tvae] kept $dir" >&2; continue; fi
        mkdir -p "$(dirname "$dir")"
        echo "[tvae] $(date -u +%H:%M:%S) $data $variant seed $seed" >&2
        OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS dotnet "$CLI" tvae --data "$data" --variant "$variant" \
          --epochs 10 --seed "$seed" --device cpu --threads "$THREADS" --out "$dir" --overwrite --json > "$dir.json.tmp" 2> >(tee "$dir.log" >&2) || true
        mv "$dir.json.tmp" "$dir.stdout.json"
      done
    done
  done
fi
python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
paper = {("mnist", "vae"): "75.08", ("mnist", "tvae"): "95.60"}
names = {"vae": "VAE", "tvae": "TVAE", "wtvae": "W-TVAE"}
print("| data | model | seeds | triplet accuracy (%) | of means (%) | paper (%) | −ELBO (nats/image) | P@1 | MAP@R | train s/run |")
print("|---|---|---|---|---|---|---|---|---|---|")
def fmt(xs, scale=1.0, digits=2):
    xs = [x * scale for x in xs]
    if len(xs) == 1: return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"
for data in ("mnist", "fashion-mnist"):
    for variant in ("vae", "tvae", "wtvae"):
        runs = []
        folder = os.path.join(out, data, variant)
        if os.path.isdir(folder):
            for seed in sorted(os.listdir(folder)):
                m = os.path.join(folder, seed, "metrics.json")
                if os.path.isfile(m):
                    runs.append(json.load(open(m)))
        if not runs: continue
        seeds = ",".join(str(r["seed"]) for r in runs)
        print(f"| {data} | {names[variant]} | {seeds} | {fmt([r['triplet_accuracy'] for r in runs], 100)} | "
              f"{fmt([r['triplet_accuracy_of_means'] for r in runs], 100)} | "
              f"{paper.get((data, variant), '—')} | {fmt([r['neg_elbo'] for r in runs], 1, 1)} | "
              f"{fmt([r['precision_at_1'] for r in runs], 1, 4)} | {fmt([r['map_at_r'] for r in runs], 1, 4)} | "
              f"{fmt([r['train_seconds'] for r in runs], 1, 0)} |")
PY
