# Folio entry points. The logic lives in scripts/ (bash); make only names it.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# sam and cfn-lint come from the project's venv (scripts/tools.sh); sam reads
# the region from AWS_DEFAULT_REGION; its telemetry would try the network.
SAM := PATH="$(CURDIR)/.tools/venv/bin:$$PATH" AWS_REGION=us-east-1 \
       AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 sam

.PHONY: tools test dev dev-stop bench sam-validate sam-build fmt lint openapi

tools: ## install the pinned tools into .tools/
	scripts/tools.sh

test: ## services + build + cargo test + sam validate, as CI runs it
	scripts/test.sh

dev: ## local stack on http://127.0.0.1:9000 with a demo org and token
	scripts/dev.sh

dev-stop:
	scripts/dev.sh stop

bench:
	@if [[ -x scripts/bench.sh ]]; then scripts/bench.sh; else echo "no scripts/bench.sh yet"; fi

sam-validate: tools
	$(SAM) validate --lint

sam-build: tools
	$(SAM) build

openapi: ## regenerate openapi.yaml from the endpoint table
	cargo run -q -p folio-admin -- openapi > openapi.yaml

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings
