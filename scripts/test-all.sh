#!/usr/bin/env bash
# The whole of `make test` after the venv: lint, the test bed, then pytest
# and the Molecule scenarios, side by side. Lint starts first and runs beside
# the rest (one busy core for about a minute, while the test bed mostly waits
# on dockerd and the package lists). Molecule's progress streams live;
# lint's and pytest's output go to build/lint.log and build/pytest.log and are
# printed when everything is done. The last lines are lint's result,
# pytest's summary, the time table, then Molecule's table and its
# "N passed, N failed" line. Exits non-zero when anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
lint_log=build/lint.log
pytest_log=build/pytest.log
molecule_log=build/molecule-all.log

test_start="${TEST_START:-$(date +%s)}"
# The machine's CPU counters (/proc/stat: busy and idle jiffies of all
# cores), read at the start and at the end: the share of the cores that the
# whole run kept busy, which says whether more parallelism could help.
cpu_counters() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
read -r cpu_busy0 cpu_idle0 < <(cpu_counters)
( start=$(date +%s); make --no-print-directory lint >"$lint_log" 2>&1; rc=$?; echo "$rc $(($(date +%s) - start))" >build/lint.result; exit "$rc" ) &
lint_pid=$!
if ! make --no-print-directory testbed; then
  wait "$lint_pid"
  echo "==== lint (full output in $lint_log) ===="
  tail -n 40 "$lint_log"
  echo "the test bed could not be set up: no test ran"
  exit 1
fi
# One AnsiballZ payload cache for the whole run, pytest's playbooks and
# Molecule's alike (scripts/ansiballz_payload).
rm -rf build/ansiballz-payload
mkdir -m 0700 build/ansiballz-payload
export ANSIBALLZ_PAYLOAD_DIR="$PWD/build/ansiballz-payload"
stage_start=$(date +%s)
( start=$(date +%s); scripts/pytest.sh >"$pytest_log" 2>&1; rc=$?; echo "$rc $(($(date +%s) - start))" >build/pytest.result; exit "$rc" ) &
pytest_pid=$!
scripts/molecule-all.sh "$@" 2>&1 | tee "$molecule_log"
molecule_rc=${PIPESTATUS[0]}
molecule_seconds=$(($(date +%s) - stage_start))
wait "$pytest_pid"
pytest_rc=$?
read -r _ pytest_seconds <build/pytest.result || pytest_seconds=0
wait "$lint_pid"
lint_rc=$?
read -r _ lint_seconds <build/lint.result || lint_seconds=0
end=$(date +%s)
read -r cpu_busy1 cpu_idle1 < <(cpu_counters)
cpu_busy=$((cpu_busy1 - cpu_busy0))
cpu_all=$((cpu_busy + cpu_idle1 - cpu_idle0))

echo "==== lint (full output in $lint_log) ===="
if [ "$lint_rc" -eq 0 ]; then
  grep -E '^(Passed|check_specs|role_docs)|problems' "$lint_log" || tail -n 5 "$lint_log"
else
  tail -n 150 "$lint_log"
  echo "lint FAILED"
fi

echo "==== pytest (full output in $pytest_log) ===="
if [ "$pytest_rc" -eq 0 ]; then
  tail -n 5 "$pytest_log"
else
  tail -n 200 "$pytest_log"
fi
echo "==== Times (wall clock, seconds) ===="
printf '%-34s %6s\n' "test bed (lint beside it)" "$((stage_start - test_start))"
printf '%-34s %6s\n' "lint (beside the test bed)" "$lint_seconds"
printf '%-34s %6s\n' "pytest (beside Molecule)" "$pytest_seconds"
printf '%-34s %6s\n' "Molecule, all scenarios" "$molecule_seconds"
printf '%-34s %6s  (%d min %02d s; budget 30 min)\n' "make test, total" "$((end - test_start))" \
  "$(((end - test_start) / 60))" "$(((end - test_start) % 60))"
printf '%-34s %5s%%  (%d cores; iowait counts as idle)\n' "CPU busy over the run" \
  "$((cpu_all > 0 ? 100 * cpu_busy / cpu_all : 0))" "$(nproc)"
echo "==== Molecule (each scenario's own time and CPU-seconds; up to ${MOLECULE_JOBS:-2} at a time) ===="
grep -E '^(molecule [a-z0-9_]+ +(PASSED|FAILED) in|  playbooks \(s\)|molecule CPU-s, all scenarios:|failed scenarios?[ :]|molecule: [0-9]+ passed, [0-9]+ failed$)' "$molecule_log"
[ "$lint_rc" -eq 0 ] && [ "$pytest_rc" -eq 0 ] && [ "$molecule_rc" -eq 0 ]
