#!/usr/bin/env bash
# The test stage of `make test`: pytest and the Molecule scenarios run side by
# side (both mostly wait on containers, downloads and the network, so on two
# cores this takes about as long as the Molecule scenarios alone). Molecule's
# progress streams live; pytest's output goes to build/pytest.log and is
# printed when both are done. The last lines are pytest's summary, then
# Molecule's table and its "N passed, N failed" line. Exits non-zero when
# either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
pytest_log=build/pytest.log
molecule_log=build/molecule-all.log

# TEST_START (epoch seconds) is set by `make test` before lint.
test_start="${TEST_START:-$(date +%s)}"
stage_start=$(date +%s)
( start=$(date +%s); pytest >"$pytest_log" 2>&1; rc=$?; echo "$rc $(($(date +%s) - start))" >build/pytest.result; exit "$rc" ) &
pytest_pid=$!
scripts/molecule-all.sh "$@" 2>&1 | tee "$molecule_log"
molecule_rc=${PIPESTATUS[0]}
molecule_seconds=$(($(date +%s) - stage_start))
wait "$pytest_pid"
pytest_rc=$?
read -r _ pytest_seconds <build/pytest.result || pytest_seconds=0
end=$(date +%s)

echo "==== pytest (full output in $pytest_log) ===="
if [ "$pytest_rc" -eq 0 ]; then
  tail -n 5 "$pytest_log"
else
  tail -n 200 "$pytest_log"
fi
echo "==== Times (wall clock, seconds) ===="
printf '%-34s %6s\n' "lint and test bed" "$((stage_start - test_start))"
printf '%-34s %6s\n' "pytest (beside Molecule)" "$pytest_seconds"
printf '%-34s %6s\n' "Molecule, all scenarios" "$molecule_seconds"
printf '%-34s %6s  (%d min %02d s; budget 30 min)\n' "make test, total" "$((end - test_start))" \
  "$(((end - test_start) / 60))" "$(((end - test_start) % 60))"
echo "==== Molecule (each scenario's own time; up to ${MOLECULE_JOBS:-2} at a time) ===="
grep -E '^(molecule [a-z0-9_]+ +(PASSED|FAILED) in|failed scenarios:|molecule: [0-9]+ passed, [0-9]+ failed$)' "$molecule_log"
[ "$pytest_rc" -eq 0 ] && [ "$molecule_rc" -eq 0 ]
