#!/usr/bin/env bash
# The performance gate of a change, as CI runs it (see regression-gate.yml beside it):
# sweeps a small matrix with the BASE build's harness, keeps it as baseline `base`, sweeps it
# again with the CHANGE's, and compares the two with thresholds.
#
#   examples/ci/regression-gate.sh BASE_HARNESS CHANGE_HARNESS [OUT]
#
# BASE_HARNESS and CHANGE_HARNESS are the two builds' harness binaries (e.g. target/debug/harness
# of each checkout); OUT (default ci-results) receives:
#   report.html   the comparison page (tables, throughput old and new, spectra overlaid)
#   summary.md    the verdict and compact tables, for a CI job's summary page
#   bmf.json      the change's figures in Bencher Metric Format (`bencher run --adapter json`)
#   base/, change/  each sweep's results directory (its own report.html, results.json …);
#                 base/baselines/base.json is the baseline
# Environment: FAIL_ON, the thresholds (default "rps:-5% p99:+10% cpu:+5%"); MATRIX, the matrix
# template (default examples/ci/matrix.toml; @BASE_HARNESS@ is replaced by BASE_HARNESS).
# Exit status: harness compare's — 0 no breach, 1 a breach, 2 bad input — or the failing
# sweep's when a sweep fails (then nothing is compared).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
base=$(realpath "$1")
change=$(realpath "$2")
out=${3:-ci-results}
matrix_template=${MATRIX:-$(dirname "$0")/matrix.toml}
read -r -a thresholds <<<"${FAIL_ON:-rps:-5% p99:+10% cpu:+5%}"
for harness in "$base" "$change"; do
    if [[ ! -x $harness ]]; then
        echo "regression-gate: $harness is not an executable harness" >&2
        exit 2
    fi
done

mkdir -p "$out"
matrix="$out/matrix.toml"
sed "s|@BASE_HARNESS@|$base|g" "$matrix_template" >"$matrix"
fail_on=()
for threshold in "${thresholds[@]}"; do
    fail_on+=(--fail-on "$threshold")
done

# A sweep that fails (a failed request, a server that died) says why and ends the gate with
# its status: a baseline must be clean, and so must the change.
echo "== base: $base" >&2
"$base" run "$matrix" --out "$out/base" --save-baseline base
echo "== change: $change" >&2
"$change" run "$matrix" --out "$out/change"

# The change's harness compares: it reads both results.json (a schema change between the two
# builds is refused with exit 2, naming the schemas).
status=0
"$change" compare --baseline base --results "$out/base" "$out/change/latest" "${fail_on[@]}" \
    --format markdown --html "$out/report.html" >"$out/summary.md" || status=$?
"$change" compare --baseline base --results "$out/base" "$out/change/latest" --format bmf >"$out/bmf.json"

cat "$out/summary.md"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    cat "$out/summary.md" >>"$GITHUB_STEP_SUMMARY"
fi
echo "regression-gate: exit $status; the comparison page is $out/report.html" >&2
exit "$status"
