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

pytest >"$pytest_log" 2>&1 &
pytest_pid=$!
scripts/molecule-all.sh "$@" 2>&1 | tee "$molecule_log"
molecule_rc=${PIPESTATUS[0]}
wait "$pytest_pid"
pytest_rc=$?

echo "==== pytest (full output in $pytest_log) ===="
if [ "$pytest_rc" -eq 0 ]; then
  tail -n 5 "$pytest_log"
else
  tail -n 200 "$pytest_log"
fi
echo "==== Molecule ===="
grep -E '^(molecule [a-z0-9_]+ +(PASSED|FAILED) in|failed scenarios:|molecule: [0-9]+ passed, [0-9]+ failed$)' "$molecule_log"
[ "$pytest_rc" -eq 0 ] && [ "$molecule_rc" -eq 0 ]
