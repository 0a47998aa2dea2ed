#!/usr/bin/env bash
# Lists the Molecule scenarios (every molecule/<name>/molecule.yml), one per
# line, the longest first (by their time alone on an idle machine) so that
# parallel runs finish together; scenarios
# not named below follow in alphabetical order.
set -euo pipefail
cd "$(dirname "$0")/.."
first=(stack_postgresql clients stack_mysql existing_vm stack nginx_proxy server_tmux
  service)
declare -A listed=()
for s in "${first[@]}"; do
  if [ -f "molecule/$s/molecule.yml" ]; then
    echo "$s"
    listed[$s]=1
  fi
done
for f in molecule/*/molecule.yml; do
  s=$(basename "$(dirname "$f")")
  [ -n "${listed[$s]:-}" ] || echo "$s"
done
