# Every target sets up what it needs itself, so each works on a fresh clone (Python 3.10+ and make).
# Everything installs from uv.lock (every package pinned, with hashes); `make lock` refreshes it.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# uv itself, pinned by version and hash (x86_64 and aarch64 Linux wheels), in its own small venv.
UV_VERSION := 0.13.10
UV_HASHES := \
	--hash=sha256:7cc9c41b43d583e34c781fd3446405b06e9c5fa2db468ce2a534d353db6429e5 \
	--hash=sha256:e89dd26ea831dde70639ba0a798fa04a4c7c0226fd2b241da86218bfa370e495
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Never download a Python: use the machine's.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
# The project's extras installed for run, test, lint, docs and bench.
EXTRAS := asgi asyncpg fastapi httpx psycopg redis requests sqlalchemy sqlite3 starlette system-metrics
empty :=
comma := ,
PIP_EXTRAS := $(subst $(empty) $(empty),$(comma),$(strip $(EXTRAS)))

# The lowest versions the pyproject declares, on the lowest Python it declares.
PY_LOWEST ?= $(shell for p in $(HOME)/.pyenv/versions/3.10*/bin/python3.10 $$(command -v python3.10); do "$$p" -c '' 2>/dev/null && echo "$$p" && break; done)

.PHONY: install run test test-latest test-lowest lock lint format docs bench mutate

$(UV):
	python3 -m venv $(TOOLS)
	echo 'uv==$(UV_VERSION) $(UV_HASHES)' > $(TOOLS)/requirements.txt
	$(TOOLS)/bin/pip install --quiet --require-hashes --no-deps -r $(TOOLS)/requirements.txt

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet $(addprefix --extra ,$(EXTRAS))
	touch $(STAMP)

install: $(STAMP)

## The main job: the documented ASGI example under uvicorn on 127.0.0.1:8000, console output on.
run: install
	$(PY) examples/asgi_app.py

test: install
	$(PY) -m pytest

## Refresh uv.lock to the newest versions the pyproject allows.
lock: | $(UV)
	$(UV) lock --upgrade

## The suite against the newest versions the pyproject allows (not the lock), to see upgrades coming.
test-latest: | $(UV)
	$(UV) venv --quiet --allow-existing .venv-latest
	$(UV) pip install --quiet --python .venv-latest --upgrade -e '.[$(PIP_EXTRAS)]' --group dev
	.venv-latest/bin/python -m pytest -p no:randomly

## The suite against the lowest versions the pyproject declares for logfire's own dependencies,
## on the lowest Python it supports; test tools come from the lock (OpenTelemetry packages follow logfire's floors).
test-lowest: | $(UV)
	@test -n "$(PY_LOWEST)" || { echo 'test-lowest needs python3.10 on PATH (or set PY_LOWEST=/path/to/python3.10)'; exit 1; }
	$(UV) venv --quiet --allow-existing --python $(PY_LOWEST) .venv-lowest
	$(UV) export --quiet --frozen --no-hashes --no-emit-project --no-header --only-group test \
		| grep -v -E '^(protobuf|importlib-metadata|typing-extensions|zipp|pydantic|rich|executing)' \
		| sed -E 's/^(opentelemetry-[a-z-]+)==.*/\1/' > .venv-lowest/test-tools.txt
	$(UV) pip install --quiet --python .venv-lowest --resolution lowest-direct -e '.[$(PIP_EXTRAS)]' \
		-r .venv-lowest/test-tools.txt
	.venv-lowest/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## The documentation site in site/; --strict turns a broken link or reference into a failure.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

## Benchmarks against the raw OpenTelemetry SDK, interleaved round by round: prints a table, writes benchmarks/results.json.
bench: install
	$(PY) -m benchmarks.run

## Mutation testing (slow, not in CI): [tool.mutmut] in pyproject.toml picks the modules and tests. Narrow it with
## MUTANTS, e.g. make mutate MUTANTS='logfire._internal.exporters.retry*'; survivors: .venv-mutate/bin/mutmut show NAME.
## Its own venv: a `make install` or `make lint` meanwhile syncs .venv without mutmut, and every mutant would then
## fail to import it and count as killed.
mutate: | $(UV)
	UV_PROJECT_ENVIRONMENT=.venv-mutate $(UV) sync --locked --quiet $(addprefix --extra ,$(EXTRAS)) --group mutate
	.venv-mutate/bin/mutmut run --max-children 2 $(MUTANTS)
	.venv-mutate/bin/mutmut results
