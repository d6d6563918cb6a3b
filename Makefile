# The two quick-start commands: `make preview` and `make test`. Both create ./venv on first use.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STACK ?= dev
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

.PHONY: install preview previews test lint typecheck unit bench smoke verify chat try-endpoint prices policy-venv clean

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

## Linters, each failing the target on a finding: ruff for Python, hadolint for the Dockerfile,
## shellcheck for the shell scripts, actionlint for the workflows (with venv/bin first on PATH it
## also runs the pinned shellcheck on every `run:` script).
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/hadolint --no-color docker/Dockerfile
	$(BIN)/shellcheck --shell=bash docker/entrypoint.sh .ci/run
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/actionlint -oneline -no-color
	$(BIN)/python -m tools.schema --check

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

# The client tools call $VLLM_AZUREML_BASE_URL when it is set (make try-endpoint prints it), else
# the stack's outputs.
ENDPOINT := $(if $(VLLM_AZUREML_BASE_URL),--base-url $(VLLM_AZUREML_BASE_URL),--stack $(STACK))

## After `pulumi up`: the stack's model is listed and one chat completion answers (exit 0/1).
smoke: install
	$(BIN)/python -m clients.smoke $(ENDPOINT) $(SMOKE_ARGS)

## After `pulumi up`: every assumption checked on the live stack, pass/fail/skip each (docs/verify.md).
verify: install
	$(BIN)/python -m clients.verify --stack $(STACK) $(VERIFY_ARGS)

## Ask the deployed model a question: make chat STACK=prod Q="Why is the sky blue?"
chat: install
	$(BIN)/python -m clients.chat $(ENDPOINT) "$(Q)"

## Try chat and smoke offline: a labelled stand-in endpoint on loopback (not Azure, not a model).
try-endpoint: install
	$(BIN)/python -m tools.fake_endpoint

## Refresh lib/prices.json from Azure's Retail Prices API (needs internet): make prices [REGION=x]
prices: install
	$(BIN)/python -m lib.prices --refresh $(if $(REGION),--region $(REGION))

bench: install
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) policy/venv .pytest_cache .ruff_cache
