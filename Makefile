# mlops.mlflow — one entry point for developers, users and CI.
#   make up        deploy the local MLflow stack (container on 127.0.0.1)
#   make down      remove it (PURGE=1 also drops its data volume)
#   make test      everything CI runs: lint, then pytest beside every Molecule scenario
#   make lint      ansible-lint (production profile), yamllint, spec checks, dangling file references
#   make molecule S=<scenario>   one Molecule scenario (full test sequence)
#   make testbed   Docker engine + systemd base images (idempotent)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# uv installs the controller's packages (about 15 s for requirements.txt from
# an empty cache, where pip takes minutes); the same version as the python
# role puts on the targets. pip is the fallback when uv cannot be had.
UV_VERSION := $(shell sed -n 's/^python_uv_version: "\(.*\)"$$/\1/p' roles/python/defaults/main.yml)
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | sha256sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
COLLECTION_LINK := .collections/ansible_collections/mlops/mlflow
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PY_COLORS := 0
# Python keeps the bytecode of what it imports (the venv's __pycache__): an
# environment that forbids it makes every ansible-playbook, module run on the
# controller and test process compile Ansible, boto3, MLflow... from source
# again (ansible-playbook's start-up alone: 2.0 s -> 0.9 s).
unexport PYTHONDONTWRITEBYTECODE
export ANSIBLE_FORCE_COLOR := 0
# Molecule scenarios, in dependency order; override with SCENARIOS="a b".
SCENARIOS ?= $(shell scripts/scenarios.sh)
# Debian releases of the base images `make up` needs (make test builds all).
UP_SUITES ?= bookworm
# Extra arguments of the playbook runs of `make up` and `make down`
# (e.g. PLAYBOOK_ARGS="-e @my.json" for another name, port or password directory).
PLAYBOOK_ARGS ?=

.PHONY: help venv venv-runtime collection testbed lint pytest molecule molecule-all test up down build clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# //'

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing the distribution's python3-venv"; rm -rf $(VENV); \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -m pip install --quiet uv==$(UV_VERSION) || echo "uv $(UV_VERSION) could not be installed: pip installs the requirements"

# Installs the requirements file $(1) into the venv, with uv where it is there.
define venv_install
	@if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --python $(BIN)/python -r $(1); \
	else $(BIN)/python -m pip install --quiet -r $(1); fi
endef

# What the playbooks need (make up, make down).
$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(call venv_install,requirements.txt)
	@rm -f $(VENV)/.runtime-*
	@touch $@

# Everything make test needs on top (lint, Molecule, pytest, emulators, MLflow client).
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(call venv_install,requirements-dev.txt)
	@rm -f $(VENV)/.dev-* $(VENV)/.runtime-*
	@touch $@ $(RUNTIME_STAMP)

venv-runtime: $(RUNTIME_STAMP) collection

venv: $(DEV_STAMP) collection

collection: $(COLLECTION_LINK)

$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../.. $@

testbed:
	@scripts/testbed.sh

lint: venv
	yamllint --strict .
	ansible-lint
	$(BIN)/python scripts/check_specs.py
	$(BIN)/python scripts/role_docs.py --check
	$(BIN)/python scripts/check_refs.py

pytest: venv testbed
	@scripts/pytest.sh

molecule: venv testbed
	@test -n "$(S)" || { echo "usage: make molecule S=<scenario>"; exit 2; }
	@scripts/apt-lists.sh stale
	molecule test -s $(S)

molecule-all: venv testbed
	@scripts/molecule-all.sh $(SCENARIOS)

# Lint runs beside the test bed and the tests (scripts/test-all.sh): it is
# one busy core for about a minute, and the test bed mostly waits.
test: export TEST_START := $(shell date +%s)
test: venv
	@scripts/test-all.sh $(SCENARIOS)

up: venv-runtime
	@TESTBED_SUITES="$(UP_SUITES)" scripts/testbed.sh
	ansible-playbook playbooks/site.yml $(PLAYBOOK_ARGS)

down: venv-runtime
	ansible-playbook playbooks/teardown_local.yml $(PLAYBOOK_ARGS) $(if $(PURGE),-e local_infra_purge=true)

build: venv-runtime
	@mkdir -p build
	ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .cache
