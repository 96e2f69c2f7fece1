# Development tasks. Every target creates .venv and installs into it first when needed, so a fresh
# clone needs only Python 3.11+ (and make; without make, use scripts/serve and scripts/test).

.DEFAULT_GOAL := help
BIN := .venv/bin
CODE := src tests bench examples

.PHONY: help install reinstall fmt lint typecheck test bench bench-quick chaos fuzz serve all clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Create .venv if missing and install taskapi with its dev tools (again when pyproject changes)
	@scripts/bootstrap

reinstall: ## Install into .venv again, even if nothing changed
	@scripts/bootstrap --force

fmt: install ## Format the code and apply ruff's safe fixes (imports sorted)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

lint: install ## ruff check, ruff format --check, import-linter contracts
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/lint-imports

typecheck: install ## mypy --strict over src, tests and bench
	$(BIN)/mypy --strict

test: ## Run the whole test suite (benchmarks excluded); ARGS="-x tests/unit" passes pytest options
	scripts/test $(ARGS)

bench: install ## Benchmarks vs peers and raw limits, full (~20 min here; ARGS="--only ours" passes options)
	$(BIN)/python -m bench.run $(ARGS)

bench-quick: install ## The same at small sizes (a few minutes); results in bench/results/
	$(BIN)/python -m bench.run --quick $(ARGS)

chaos: install ## The chaos run on both stores (SECONDS=120; see docs/reliability.md)
	$(BIN)/python -m tests.chaos.chaos --store postgres --seconds $(or $(SECONDS),120) $(ARGS)
	$(BIN)/python -m tests.chaos.chaos --store sqlite --seconds $(or $(SECONDS),120) $(ARGS)

fuzz: install ## Long schema fuzzing of the whole API (2000 examples per phase, new cases each run)
	TASKAPI_FUZZ_EXAMPLES=$${TASKAPI_FUZZ_EXAMPLES:-2000} $(BIN)/pytest -p no:cacheprovider --timeout=0 tests/fuzz/test_schema_fuzz.py $(ARGS)

serve: install ## Migrate ./taskapi.db and serve on http://localhost:8000
	$(BIN)/taskapi serve

all: lint typecheck test ## Everything CI checks: lint, types, tests

clean: ## Remove caches (keeps .venv and taskapi.db)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
