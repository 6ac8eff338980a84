# ipai ops: the two commands of the README.
.PHONY: run test setup lint
run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

# Helpers (both commands above already do these).
setup:
	@bash scripts/setup.sh

lint:
	@bash -c 'source scripts/env.sh && $$OPS_VENV/bin/ruff check addons tests ipai_ops_cli'
