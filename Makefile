# Everything runs through uv; the first target installs it when the machine does not have it.
UV := python3 -m uv
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo demo-org test lint bytecode syntheses browser unit bench synth deploy clean

.venv/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet
	@touch $@

demo: .venv/.synced
	@$(UV) run --frozen tourniquet demo

# A member account's finding in the second region, contained in that account and region.
demo-org: .venv/.synced
	@$(UV) run --frozen tourniquet simulate examples/guardduty-ec2-member-finding.json

# Before the tests, side by side: the linters; one import of everything the tests load, which leaves compiled
# bytecode, so the workers do not each compile the same modules; every synthesis the tests read, made in one
# process (tests/warm_caches.py); and, where the browser test is required (CI sets TOURNIQUET_REQUIRE_BROWSER),
# Debian's Chromium. The tests write bytecode too, whatever PYTHONDONTWRITEBYTECODE says: what a test imports
# later (moto's services, cfn-lint and its solver) is then compiled once, not by every worker and command.
# Three workers on two cores: the workflow scenarios wait on their workflows, and a third worker fills those waits.
test: .venv/.synced
	@$(MAKE) --no-print-directory -j 4 lint bytecode syntheses $(if $(TOURNIQUET_REQUIRE_BROWSER),browser)
	@PYTHONDONTWRITEBYTECODE= $(UV) run --frozen pytest -q -n 3

bytecode: .venv/.synced
	@PYTHONDONTWRITEBYTECODE= $(UV) run --frozen pytest -q --collect-only -p no:cacheprovider >/dev/null

syntheses: .venv/.synced
	@PYTHONDONTWRITEBYTECODE= $(UV) run --frozen python -m tests.warm_caches

# The incident page's browser test drives Debian's Chromium through its driver.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver >/dev/null; \
	fi

lint: .venv/.synced
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy

unit: .venv/.synced
	@$(UV) run --frozen pytest -q tests/unit

bench: .venv/.synced
	@$(UV) run --frozen python -m benchmarks.demo
	@$(UV) run --frozen python -m benchmarks.approval_callback
	@$(UV) run --frozen python -m benchmarks.containment
	@$(UV) run --frozen python -m benchmarks.isolation
	@$(UV) run --frozen python -m benchmarks.storm
	@$(UV) run --frozen python -m benchmarks.organization
	@$(UV) run --frozen python -m benchmarks.synth
	@$(UV) run --frozen python -m benchmarks.report
	@$(UV) run --frozen python -m benchmarks.cli
	@$(UV) run --frozen python -m benchmarks.cost

synth: .venv/.synced
	@npx --yes aws-cdk@2.1148.1 synth --quiet

deploy: .venv/.synced
	@npx --yes aws-cdk@2.1148.1 deploy

clean:
	rm -rf .venv cdk.out .cache .pytest_cache .mypy_cache .ruff_cache
