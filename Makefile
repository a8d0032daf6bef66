# reportchain — `make demo` runs a whole cycle for a sample county; `make test` runs the tests.
VENV  := .venv
STAMP := $(VENV)/.installed
UV    := python3 -m uv

.PHONY: install demo test lint bench bench-smoke lock clean

install: $(STAMP)

# The environment is locked in requirements.lock (hashes, no index URLs); uv installs it in seconds.
$(STAMP): pyproject.toml requirements.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python python3 $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV) requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(VENV) --no-deps -e .
	@touch $(STAMP)

demo: install
	$(VENV)/bin/reportchain demo

# One xdist worker per core; whole files go to one worker each, the slowest first (tests/conftest.py,
# SLOWEST_FILES_FIRST, not reordered by their number of tests), so that no long file starts last and a module's
# fixtures (a Prefect server) start once. Bytecode caches are written even where the shell says not to
# (PYTHONDONTWRITEBYTECODE): every worker, and every CLI or Prefect process a test starts, reads them instead of
# compiling the project and rewriting the tests' asserts again.
test: install
	$(VENV)/bin/ruff check .
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -n auto --dist loadfile --no-loadscope-reorder

# Benchmarks print JSON and keep their figures in bench/results.json: each figure with a baseline measured
# in the same run, the ratio, and the peak memory.
bench: install
	$(VENV)/bin/python -m bench.outbox_smtp
	$(VENV)/bin/python -m bench.compose
	$(VENV)/bin/python -m bench.replies_imap
	$(VENV)/bin/python -m bench.reply_latency
	$(VENV)/bin/python -m bench.sweep
	$(VENV)/bin/python -m bench.cycle_open
	$(VENV)/bin/python -m bench.hostile_files
	$(VENV)/bin/python -m bench.reply_reader
	$(VENV)/bin/python -m bench.web_board

# Every benchmark at a small size (CI runs it after the tests): a benchmark that breaks fails here.
bench-smoke: install
	$(VENV)/bin/python -m bench.outbox_smtp 100
	$(VENV)/bin/python -m bench.compose 50
	$(VENV)/bin/python -m bench.replies_imap 50
	$(VENV)/bin/python -m bench.reply_latency 5
	$(VENV)/bin/python -m bench.sweep 200
	$(VENV)/bin/python -m bench.cycle_open 50
	$(VENV)/bin/python -m bench.hostile_files --small
	$(VENV)/bin/python -m bench.reply_reader --smoke
	$(VENV)/bin/python -m bench.web_board 100 400

lint: install
	$(VENV)/bin/ruff check .

lock:
	$(UV) pip compile --quiet pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache reportchain.db reportchain.db-wal reportchain.db-shm mail
