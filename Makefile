# The two commands of the README. Each sets up .venv if needed (fast when nothing changed).
.PHONY: run test setup index eval bench clean

PILOTQA := .venv/bin/pilotqa

setup:
	@bash scripts/setup.sh

# `serve` builds the index first when it is missing or stale (with progress), then opens the app.
run: setup
	@$(PILOTQA) serve

test:
	@bash scripts/setup.sh --browser
	@.venv/bin/python -m pytest -q $(PYTEST_ARGS)

index: setup
	@$(PILOTQA) build

eval: setup
	@$(PILOTQA) eval --gold eval/gold.jsonl

bench: setup
	@$(PILOTQA) bench

clean:
	rm -rf .venv index/*/ .pytest_cache
