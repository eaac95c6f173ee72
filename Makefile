# kg — two commands on a fresh machine: `make run` and `make test`.
# Everything they need is installed here, into .venv, from pinned versions.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed
WEB    := api/web
# npm ci writes this file last: its presence means node_modules matches the lock file.
WEB_STAMP := $(WEB)/node_modules/.package-lock.json

.PHONY: run test setup build lint typecheck pytest w3c bench bench-deps virtuoso clean browser-deps screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## The browser assets kg serves (YASGUI, Swagger UI): npm packages pinned by api/web/package-lock.json.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund
	touch $(WEB_STAMP)

setup: $(STAMP) $(WEB_STAMP)

## Build the dataset (validated) and serve the API on $(HOST):$(PORT). When the build fails,
## its errors are printed and the last good build is served (kg serve names it); with no good
## build at all, kg serve stops with "run kg build first".
run: $(STAMP) $(WEB_STAMP)
	@$(BIN)/kg build || echo "kg: the build failed (errors above): serving the last good build, if there is one" >&2
	$(BIN)/kg serve --host $(HOST) --port $(PORT)

build: $(STAMP)
	$(BIN)/kg build

lint: $(STAMP)
	$(BIN)/ruff check src api tests bench
	$(BIN)/ruff format --check src api tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(WEB_STAMP) virtuoso
	$(BIN)/pytest -q -n 2 --dist loadfile

## Lint, type-check and run every test (unit, API, remote oxigraph server, W3C suite, browser).
test: browser-deps lint typecheck pytest

## Headless Chromium for the browser tests: Debian's package (never a downloaded browser build)
## and a CJK font, installed with apt-get only when /usr/bin/chromium is missing.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium and fonts-wqy-zenhei for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends \
	    chromium fonts-wqy-zenhei; \
	fi

## Virtuoso (Debian's virtuoso-opensource), the second engine the remote store is tested on;
## installed with apt-get only when missing (tests start it themselves on 127.0.0.1).
virtuoso:
	@command -v virtuoso-t >/dev/null && command -v isql-vt >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    virtuoso-opensource=7.2.5.1+dfsg1-0.3)

## The W3C SPARQL 1.1 suite alone, against our endpoint and `oxigraph serve` side by side.
w3c: $(STAMP)
	$(BIN)/pytest -q -m w3c tests/w3c

## The README's screenshots (docs/img/*.png), taken in headless Chromium over the real build.
screenshots: $(STAMP) $(WEB_STAMP) browser-deps
	$(BIN)/python -m tests.browser.screenshots

## The benchmark (not part of `make test`; ~1.5 h on a 2-core machine): side by side at 1M quads
## with Virtuoso and kg-remote, the Python peer at 100k quads, then the scale table
## (10k/100k/1M; add BENCH_SIZES="... 10000000" for 10M). Results in bench/results/.
BENCH_SIZES ?= 10000 100000 1000000
BENCH_ROUNDS ?= 3

bench-deps: $(STAMP) virtuoso
	@command -v wrk >/dev/null || (apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk=4.1.0-3+b2)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'

bench: bench-deps
	$(BIN)/python -m bench.run --triples 1000000 --rounds $(BENCH_ROUNDS) \
	  --servers oxigraph-disk oxigraph-mem kg kg-nocache kg-remote virtuoso \
	  --name "$$(date +%F)-1M"
	$(BIN)/python -m bench.run --triples 100000 --rounds $(BENCH_ROUNDS) \
	  --servers oxigraph-disk kg kg-nocache rdflib --modes same fresh \
	  --name "$$(date +%F)-100k-rdflib" --no-readme
	$(BIN)/python -m bench.scale --sizes $(BENCH_SIZES)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules
