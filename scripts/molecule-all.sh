#!/usr/bin/env bash
# Runs `molecule test` for each scenario given (default: all of them), keeps
# each scenario's full log in build/molecule/<scenario>.log, prints the tail of
# the log of any scenario that fails, and ends with one line
# "N passed, N failed". Exits non-zero when any scenario fails.
set -uo pipefail
cd "$(dirname "$0")/.."
logdir=build/molecule
mkdir -p "$logdir"
if [ "$#" -eq 0 ]; then
  mapfile -t scenarios < <(scripts/scenarios.sh)
else
  scenarios=("$@")
fi
# A random value the scenarios put inside their secrets: it must not appear
# anywhere in a scenario's output (converge runs with --diff).
export MOLECULE_SECRET_CANARY="${MOLECULE_SECRET_CANARY:-mlops-canary-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}"
passed=0
failed=0
failed_names=()
for s in "${scenarios[@]}"; do
  start=$(date +%s)
  if molecule test -s "$s" >"$logdir/$s.log" 2>&1; then
    result=PASSED
  else
    result=FAILED
  fi
  if grep -q -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log"; then
    echo "$s: a secret (the canary value) appears in the scenario's output:"
    grep -n -- "$MOLECULE_SECRET_CANARY" "$logdir/$s.log" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g" | head -n 20
    result=FAILED
  fi
  if [ "$result" = PASSED ]; then
    passed=$((passed + 1))
  else
    result=FAILED
    failed=$((failed + 1))
    failed_names+=("$s")
    echo "---- last 120 lines of $logdir/$s.log ----"
    tail -n 120 "$logdir/$s.log" | sed "s/$MOLECULE_SECRET_CANARY/<canary>/g"
    echo "---- end of $s ----"
  fi
  printf 'molecule %-24s %s in %ss\n' "$s" "$result" "$(($(date +%s) - start))"
done
if [ "$failed" -gt 0 ]; then
  echo "failed scenarios: ${failed_names[*]}"
fi
echo "molecule: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
