#!/usr/bin/env bash
# Lists the Molecule scenarios (every molecule/<name>/molecule.yml), one per line.
set -euo pipefail
cd "$(dirname "$0")/.."
for f in molecule/*/molecule.yml; do
  basename "$(dirname "$f")"
done
