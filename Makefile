# mlops.mlflow — one entry point for developers, users and CI.
#   make up        deploy the local MLflow stack (container on 127.0.0.1)
#   make down      remove it (PURGE=1 also drops its data volume)
#   make test      everything CI runs: lint, then pytest beside every Molecule scenario
#   make lint      ansible-lint (production profile), yamllint, spec checks
#   make molecule S=<scenario>   one Molecule scenario (full test sequence)
#   make testbed   Docker engine + systemd base images (idempotent)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
COLLECTION_LINK := .collections/ansible_collections/mlops/mlflow
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0
# Molecule scenarios, in dependency order; override with SCENARIOS="a b".
SCENARIOS ?= $(shell scripts/scenarios.sh)

.PHONY: help venv collection testbed lint pytest molecule molecule-all test up down build clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# //'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing the distribution's python3-venv"; rm -rf $(VENV); \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP) collection

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

pytest: venv testbed
	pytest

molecule: venv testbed
	@test -n "$(S)" || { echo "usage: make molecule S=<scenario>"; exit 2; }
	molecule test -s $(S)

molecule-all: venv testbed
	@scripts/molecule-all.sh $(SCENARIOS)

test: venv
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory testbed
	@scripts/test-all.sh $(SCENARIOS)

up: venv testbed
	ansible-playbook playbooks/site.yml

down: venv
	ansible-playbook playbooks/teardown_local.yml $(if $(PURGE),-e local_infra_purge=true)

build: venv
	@mkdir -p build
	ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .collections .cache
