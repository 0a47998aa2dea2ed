#!/usr/bin/env bash
# pytest with the bytecode cache for the Ansible modules its playbooks run on
# this machine (molecule/_shared/files/ansiballz_pyc: the venv's Python
# never keeps bytecode of what it imports from a module's zip) and the test
# run's AnsiballZ payload cache (scripts/ansiballz_payload: each module's
# payload built once per run, not once per ansible-playbook). Both caches are
# this checkout's own (build/, 0700) and start empty each run; under
# scripts/test-all.sh the payload cache is the one it shares with Molecule.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/ansiballz-pyc
mkdir -p build
mkdir -m 0700 build/ansiballz-pyc
export ANSIBALLZ_PYC_DIR="$PWD/build/ansiballz-pyc"
if [ -z "${ANSIBALLZ_PAYLOAD_DIR:-}" ]; then
  rm -rf build/ansiballz-payload-pytest
  mkdir -m 0700 build/ansiballz-payload-pytest
  export ANSIBALLZ_PAYLOAD_DIR="$PWD/build/ansiballz-payload-pytest"
fi
export PYTHONPATH="$PWD/scripts/ansiballz_payload:$PWD/molecule/_shared/files/ansiballz_pyc${PYTHONPATH:+:$PYTHONPATH}"
exec pytest "$@"
