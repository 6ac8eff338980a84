# ipai ops: the two commands of the README.
.PHONY: run test setup lint docs runtime-images screenshots
run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

# Helpers (both commands above already do these).
setup:
	@bash scripts/setup.sh

# The user documentation (docs/) as a site in site/ (MkDocs).
docs:
	@bash -c 'source scripts/env.sh && $$OPS_DOCS_VENV/bin/mkdocs build --strict'

lint:
	@bash -c 'source scripts/env.sh && $$OPS_VENV/bin/ruff check addons tests ipai_ops_cli bench && $$OPS_LINT_VENV/bin/pylint --rcfile=.pylintrc addons/ipai_ops_core addons/ipai_ops_backup addons/ipai_ops_monitoring && $$OPS_LINT_VENV/bin/oca-checks-odoo-module addons/ipai_ops_core addons/ipai_ops_backup addons/ipai_ops_monitoring && $$OPS_LINT_VENV/bin/oca-checks-po addons/*/i18n/*.pot'

# Runtime images of every supported Odoo version (17.0, 18.0, 19.0), built
# offline ahead of first use (a run builds a missing one by itself).
runtime-images:
	@bash -c 'source scripts/env.sh && for v in $$OPS_ODOO_VERSIONS; do scripts/build-runtime-image.sh $$v || exit 1; done'

# The README's screenshots, taken by the backend's tours (docs/screenshots/).
screenshots:
	@bash scripts/screenshots.sh
