#!/usr/bin/env bash
# apt's package lists for the test containers of one Debian release
# (molecule/_shared/create.yml copies $MOLECULE_APT_LISTS/<tag> into each new
# container's /var/lib/apt/lists). They are fetched here, once per release and
# before any scenario starts, by a throw-away container of the base image: the
# roles' apt tasks (cache_valid_time) then find them fresh in every container
# and download them no more.
#
#   scripts/apt-lists.sh          fetch them anew (scripts/molecule-all.sh)
#   scripts/apt-lists.sh stale    only where missing or older than 6 hours
set -euo pipefail
dir="${MOLECULE_APT_LISTS:-$HOME/.cache/mlops-mlflow/apt-lists}"
repo="${TESTBED_IMAGE_REPO:-mlops-mlflow-base}"
mode="${1:-fresh}"
for tag in debian12 debian13; do
  docker image inspect "$repo:$tag" >/dev/null 2>&1 || continue
  lists="$dir/$tag"
  if [ "$mode" = stale ] && [ -n "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | head -n 1)" ]; then
    continue
  fi
  mkdir -p "$lists"
  find "$lists" -mindepth 1 -delete
  echo "[apt-lists] fetching the package lists of $tag"
  docker run --rm -v "$lists:/var/lib/apt/lists" "$repo:$tag" apt-get update -qq >/dev/null
  rm -rf "$lists/partial"
done
