# The two commands of the README. Each sets up .venv if needed (fast when nothing changed).
.PHONY: run test setup index eval bench clean

PILOTQA := .venv/bin/pilotqa

setup:
	@bash scripts/setup.sh

# `serve` builds the index first when it is missing or stale (with progress), then opens the app.
# `make run PORT=8000` serves on that port (`pilotqa serve --port 8000`); only a PORT given on the make command
# line counts, so a PORT variable some environment exports does not move the app.
run: setup
	@$(PILOTQA) serve$(if $(and $(filter command line,$(origin PORT)),$(strip $(PORT))), --port $(strip $(PORT)))

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
