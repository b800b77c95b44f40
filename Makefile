# The two commands of the README. Each sets up .venv if needed (fast when nothing changed).
.PHONY: run test setup index eval bench clean

PILOTQA := .venv/bin/pilotqa

setup:
	@bash scripts/setup.sh

run: setup
	@$(PILOTQA) build --if-stale
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
