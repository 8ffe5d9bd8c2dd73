#!/usr/bin/env bash
# Builds what travels to a lent GPU machine (no .NET there): self-contained publishes of the property suites and the
# benchmark runner, without the bundled CPU libtorch (the GPU machine's PyTorch libtorch is loaded through
# DISTEMBED_LIBTORCH instead), packed into .gpu/app.tar.xz. Then run bench/gpu/remote.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu && mkdir -p .gpu/app
common=(-c Release -r linux-x64 --self-contained -p:InvariantGlobalization=true -p:SatelliteResourceLanguages=en -v q -nologo)
dotnet publish tests/Properties/Properties.fsproj "${common[@]}" -o .gpu/app/run >&2
dotnet publish bench/DistEmbed.Benchmarks/DistEmbed.Benchmarks.csproj "${common[@]}" -o .gpu/app/run >&2
# Drop libtorch's own libraries (about 1 GB); keep TorchSharp's libLibTorchSharp.so.
find .gpu/app -type f \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libbackend_with_compiler.so' -o -name 'libshm.so' \) -delete
XZ_OPT=-9 tar -cJf .gpu/app.tar.xz -C .gpu app
du -h .gpu/app.tar.xz >&2
