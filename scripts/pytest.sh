#!/usr/bin/env bash
# pytest with the bytecode cache for the Ansible modules its playbooks run on
# this machine (molecule/_shared/files/ansiballz_pyc: the venv's Python
# never keeps bytecode of what it imports from a module's zip). The cache is
# this checkout's own (build/ansiballz-pyc, 0700) and starts empty each run.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/ansiballz-pyc
mkdir -p build
mkdir -m 0700 build/ansiballz-pyc
export ANSIBALLZ_PYC_DIR="$PWD/build/ansiballz-pyc"
export PYTHONPATH="$PWD/molecule/_shared/files/ansiballz_pyc${PYTHONPATH:+:$PYTHONPATH}"
exec pytest "$@"
