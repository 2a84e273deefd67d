# Two commands matter: `make run` (set up, build the database if missing, start the dashboard)
# and `make test` (set up, then the whole suite). Everything else is a helper of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
DB ?= data/ai_industry.db
PORT ?= 8501

.PHONY: run test bench lint system-deps clean-db db

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(BENCH_STAMP): requirements-bench.lock $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-bench.lock
	touch $@

# Debian's Chromium and CJK fonts for the real-browser test and screenshots, Noto CJK and
# poppler-utils (pdffonts, pdftotext, pdftoppm) for the briefing, PostgreSQL for the tests on the
# second backend. Installed only where missing (apt-get update first); without root the browser
# test skips and says why.
# In CI (CI=true) a browser that could not be installed is an error, not a warning: there the
# browser test fails instead of skipping, so the run should stop here with the reason.
SYSTEM_PACKAGES := chromium fonts-wqy-microhei fonts-noto-cjk poppler-utils postgresql

system-deps:
	@in_ci=; case "$$CI" in [Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss]) in_ci=1;; esac; \
	if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 \
		&& fc-list 2>/dev/null | grep -qi "noto sans cjk" && fc-list 2>/dev/null | grep -qi "wenquanyi" \
		&& ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		echo "system-deps: $(SYSTEM_PACKAGES) are present"; \
	elif [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null \
		|| { if [ -n "$$in_ci" ]; then \
			echo "system-deps: ERROR could not install $(SYSTEM_PACKAGES) (apt-get failed, see above); in CI (CI=$$CI) the browser test fails without them: fix the package sources and rerun" >&2; exit 1; \
		fi; echo "system-deps: WARNING could not install chromium; the browser test will skip"; }; \
	elif [ -n "$$in_ci" ]; then \
		echo "system-deps: ERROR not root, so $(SYSTEM_PACKAGES) cannot be installed; in CI (CI=$$CI) the browser test fails without them: install them in the CI image or run as root" >&2; exit 1; \
	else \
		echo "system-deps: WARNING not root, chromium not installed; the browser test will skip"; \
	fi

$(DB): | $(STAMP)
	$(BIN)/aidash init --db $(DB)

db: $(DB)

run: $(STAMP) $(DB)
	$(BIN)/streamlit run streamlit_app.py --server.address 127.0.0.1 --server.port $(PORT)

# Every test, on two workers; worksteal splits the browser test's pages between them (loadfile
# left one worker with the whole browser module). `pytest -m "not slow"` is the quick loop.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check aidash app etl models tests benchmarks scripts
	$(BIN)/mypy aidash app etl models

bench: $(BENCH_STAMP) system-deps
	$(BIN)/python -m benchmarks.run_all

clean-db:
	rm -f $(DB) $(DB)-wal $(DB)-shm
