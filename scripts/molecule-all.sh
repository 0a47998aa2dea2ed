#!/usr/bin/env bash
# Runs `molecule test` for each scenario given (default: all of them),
# MOLECULE_JOBS at a time (default 2: a scenario keeps about one core busy,
# and pytest runs beside them; on two cores a third scenario only stretches
# every wait and health check), keeps each scenario's full log in
# build/molecule/<scenario>.log, prints the tail of the log of any scenario
# that fails, and ends with one line "N passed, N failed". Exits non-zero
# when any scenario fails. A scenario also fails when the secret canary shows
# up anywhere in its output.
set -uo pipefail
cd "$(dirname "$0")/.."
logdir=build/molecule
mkdir -p "$logdir"
if [ "$#" -eq 0 ]; then
  mapfile -t scenarios < <(scripts/scenarios.sh)
else
  scenarios=("$@")
fi
jobs_max="${MOLECULE_JOBS:-2}"
# A random value the scenarios put inside their secrets: it must not appear
# anywhere in a scenario's output (converge runs with --diff).
export MOLECULE_SECRET_CANARY="${MOLECULE_SECRET_CANARY:-mlops-canary-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}"

run_one() {
  local s=$1 start result
  start=$(date +%s)
  if molecule test -s "$s" >"$logdir/$s.log" 2>&1; then result=PASSED; else result=FAILED; fi
  if grep -q -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log"; then
    {
      echo "$s: a secret (the canary value) appears in the scenario's output:"
      grep -n -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g" | head -n 20
    } >"$logdir/$s.leak"
    result=FAILED
  fi
  echo "$result $(($(date +%s) - start))" >"$logdir/$s.result"
}

for s in "${scenarios[@]}"; do rm -f "$logdir/$s.result" "$logdir/$s.leak"; done
# The containers share apt's package lists (molecule/_shared/create.yml):
# fetch them once, before any scenario starts.
scripts/apt-lists.sh
running=0
for s in "${scenarios[@]}"; do
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n
    running=$((running - 1))
  fi
  echo "molecule $s: started"
  run_one "$s" &
  running=$((running + 1))
done
wait

passed=0
failed=0
failed_names=()
for s in "${scenarios[@]}"; do
  read -r result seconds <"$logdir/$s.result" || { result=FAILED; seconds=0; }
  if [ "$result" = PASSED ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$s")
    [ -f "$logdir/$s.leak" ] && cat "$logdir/$s.leak"
    echo "---- last 120 lines of $logdir/$s.log ----"
    tail -n 120 "$logdir/$s.log" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g"
    echo "---- end of $s ----"
  fi
done
for s in "${scenarios[@]}"; do
  read -r result seconds <"$logdir/$s.result" || { result=FAILED; seconds=0; }
  printf 'molecule %-24s %s in %ss\n' "$s" "$result" "$seconds"
done
if [ "$failed" -gt 0 ]; then
  echo "failed scenarios: ${failed_names[*]}"
fi
echo "molecule: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
