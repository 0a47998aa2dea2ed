#!/usr/bin/env bash
# Molecule's dependency step of the scenarios existing_vm and service: builds
# this checkout with ansible-galaxy and installs the tarball into $1, the way
# a user installs the collection (`ansible-galaxy collection install
# mlops-mlflow-*.tar.gz`). The scenario's playbooks then find mlops.mlflow
# there only (ANSIBLE_COLLECTIONS_PATH in its molecule.yml): the deployment
# runs the installed copy, not this checkout.
set -euo pipefail
dest=$1
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# No ansible.cfg of the checkout, nothing of ANSIBLE_*: its collections_path
# names the checkout, where the collection is "already installed".
unset ANSIBLE_CONFIG
export ANSIBLE_COLLECTIONS_PATH=$dest
cd "$work"
ansible-galaxy collection build --output-path "$work" "$root" >/dev/null
rm -rf "$dest/ansible_collections/mlops/mlflow"
ansible-galaxy collection install --offline -p "$dest" "$work"/mlops-mlflow-*.tar.gz
