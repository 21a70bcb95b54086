# Every target sets up .venv itself, so each works on a fresh clone.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format docs bench mutate

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip>=25.1'
	$(PY) -m pip install --quiet -e '.[asgi]' --group dev
	touch $(STAMP)

install: $(STAMP)

## The main job: the documented ASGI example under uvicorn on 127.0.0.1:8000, console output on.
run: install
	$(PY) examples/asgi_app.py

test: install
	$(PY) -m pytest

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
## MUTANTS, e.g. make mutate MUTANTS='logfire._internal.exporters.retry*'; survivors: .venv/bin/mutmut show NAME.
mutate: install
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(VENV)/bin/mutmut results
