# The two quick-start commands: `make preview` and `make test`. Both create ./venv on first use.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STACK ?= dev
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

.PHONY: install preview previews test lint typecheck unit bench smoke chat policy-venv clean

# Re-install only when a requirements file changes.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

## Offline preview of one stack (default dev): what `pulumi up` would create, no Azure needed.
preview: install
	$(BIN)/python -m tools.preview --stack $(STACK)

## Offline preview of every committed stack file.
previews: install
	@for stack in $(STACKS); do $(BIN)/python -m tools.preview --stack $$stack > /dev/null || exit 1; echo "preview $$stack: ok"; done

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/pyright

unit: install
	$(BIN)/pytest -n auto

## Everything CI checks: lint, types, tests.
test: lint typecheck unit

## The policy pack's own venv (policy/venv), for `pulumi preview --policy-pack policy`.
policy-venv: policy/venv/.installed

policy/venv/.installed: policy/requirements.txt
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

## After `pulumi up`: the stack's model is listed and one chat completion answers (exit 0/1).
smoke: install
	$(BIN)/python -m clients.smoke --stack $(STACK) $(SMOKE_ARGS)

## Ask the deployed model a question: make chat STACK=prod Q="Why is the sky blue?"
chat: install
	$(BIN)/python -m clients.chat --stack $(STACK) "$(Q)"

bench: install
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) policy/venv .pytest_cache .ruff_cache
