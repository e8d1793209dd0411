# tzero: `make demo` runs the main job on the shared data, `make test` every check (CI),
# `make test-fast` the developer loop (tests marked slow left out).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-10)

.PHONY: install demo test test-fast test-all lint bench

ECHARTS := src/tzero/service/static/vendor/echarts.min.js
SWAGGER := src/tzero/service/static/vendor/swagger-ui/swagger-ui-bundle.js
# Swagger UI's files for /docs; the bundle last, so its presence means all were copied.
SWAGGER_FILES := LICENSE favicon-32x32.png swagger-ui.css swagger-ui-bundle.js

# The vendored assets first: a wheel (or a strict editable install) copies the
# package data present when pip runs.
install: $(ECHARTS) $(SWAGGER) $(STAMP)

# The web page's charts, vendored from the npm registry at install time (never
# fetched from the internet at run time); gitignored. Skipped when present.
$(ECHARTS):
	mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack echarts@6 --silent >/dev/null) \
	  && tar -xzf $$tmp/echarts-*.tgz -C $$tmp package/dist/echarts.min.js \
	  && cp $$tmp/package/dist/echarts.min.js $@; rc=$$?; rm -rf $$tmp; exit $$rc

# /docs (Swagger UI) served by the app from /static, vendored the same way (never a CDN).
$(SWAGGER):
	mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack swagger-ui-dist@5 --silent >/dev/null) \
	  && tar -xzf $$tmp/swagger-ui-dist-*.tgz -C $$tmp $(addprefix package/,$(SWAGGER_FILES)) \
	  && cp $(addprefix $$tmp/package/,$(SWAGGER_FILES)) $(dir $@); rc=$$?; rm -rf $$tmp; exit $$rc

# torch first, pinned alone: `pip install torch==2.13.0` takes the CPU build
# here (see README "Install"); the package's own pin then installs nothing more.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/tzero demo

# The README's test command, what .ci/run calls: lint, types, every test.
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

# The developer loop: no full demo run, browser test, long fuzz or training run.
test-fast: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -m "not slow" -q

test-all: test

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_read_day.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_lstm.py
	$(BIN)/python benchmarks/bench_t0.py --symbols 50 --repeat 3
