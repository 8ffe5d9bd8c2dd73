#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, after bench/gpu/build.sh made .gpu/app.tar.xz here:
# the property suites on CUDA, then workloads W1, W2, W3, N1 for ours and the PyTorch peer in the same run.
# Logs go to $OUT (default ./gpu-out).
set -uo pipefail
OUT=${OUT:-./gpu-out}
mkdir -p "$OUT" /tmp/distembed
tar -xJf .gpu/app.tar.xz -C /tmp/distembed
export DISTEMBED_LIBTORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
{ nvidia-smi; python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda)'; } > "$OUT/device.txt" 2>&1
DISTEMBED_TEST_DEVICE=cuda /tmp/distembed/app/run/DistEmbed.Properties > "$OUT/properties-cuda.log" 2>&1
echo "properties exit $?" >> "$OUT/properties-cuda.log"
/tmp/distembed/app/run/DistEmbed.Benchmarks compare --device cuda --repeats 20 --python python3 \
  --peers bench/peers --json "$OUT/bench-cuda.json" --markdown "$OUT/bench-cuda.md" > "$OUT/bench-cuda.log" 2>&1
echo "bench exit $?" >> "$OUT/bench-cuda.log"
/tmp/distembed/app/run/DistEmbed.Benchmarks compare --device cpu --repeats 3 --python python3 --no-pot \
  --workloads W1,W2,W3,N1 --peers bench/peers --json "$OUT/bench-gpu-host-cpu.json" --markdown "$OUT/bench-gpu-host-cpu.md" > "$OUT/bench-cpu.log" 2>&1
echo "cpu bench exit $?" >> "$OUT/bench-cpu.log"
tail -n 3 "$OUT/properties-cuda.log" "$OUT/bench-cuda.log"
