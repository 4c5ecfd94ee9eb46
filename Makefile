# icesim developer tasks. `make test` works alone on a fresh Debian machine: it installs the
# Python package (with test extras), coturn, the lab's tools (iproute2, nftables), Node.js (the
# replay runner, `icesim replay`) and the conformance suite's browsers (chromium, firefox-esr)
# first, each only when missing.

PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check --root-user-action=ignore
PYTEST_FLAGS ?= -q -p no:cacheprovider

# apt-get needs root: use sudo when not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)

.PHONY: install deps-system deps-lab test bench clean

install:
	$(PYTHON) -m pip install $(PIP_FLAGS) -e '.[test]'
	@# pyenv only exposes new console scripts (icesim) through its shims after a rehash.
	@if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
	@command -v icesim >/dev/null 2>&1 || { \
	  echo "warning: icesim was installed in $$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))'), which is not on PATH" >&2; }

deps-system: deps-lab
	@if command -v turnserver >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ] && [ -z "$(SUDO)" ]; then \
	  echo "error: coturn (turnserver) is missing and installing it needs root or sudo" >&2; exit 1; \
	fi; \
	echo "installing coturn (turnserver) with apt-get"; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn >/dev/null && \
	command -v turnserver >/dev/null

# $(call apt_install,WHO,TOOL:PACKAGE ...): apt-get install the packages whose tool is missing.
define apt_install
@missing=""; for pair in $(2); do tool=$${pair%%:*}; \
  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || [ -x /sbin/$$tool ] || missing="$$missing $${pair#*:}"; \
done; \
if [ -z "$$missing" ]; then exit 0; fi; \
if [ "$$(id -u)" -ne 0 ] && [ -z "$(SUDO)" ]; then \
  echo "error: $(1) needs$$missing and installing it needs root or sudo" >&2; exit 1; \
fi; \
echo "installing$$missing with apt-get"; \
$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null
endef

# `icesim lab` (network namespaces): iproute2, nftables, util-linux's unshare/nsenter/setpriv.
LAB_TOOLS := ip:iproute2 nft:nftables unshare:util-linux nsenter:util-linux setpriv:util-linux
deps-lab:
	$(call apt_install,the network lab,$(LAB_TOOLS))

test: install deps-system deps-node deps-browsers
	$(PYTHON) -m pytest $(PYTEST_FLAGS)

bench: install deps-node
	icesim bench
	node --experimental-vm-modules --no-warnings icesim/js/replay-bench.mjs

# The conformance suite's oracles (tests/conformance): headless Chromium and Firefox ESR; its
# namespaces need deps-lab's iproute2 and nftables.
# `icesim replay` runs JavaScript detectors in Node.js (Debian's nodejs: node >= 18).
.PHONY: deps-node
deps-node:
	$(call apt_install,icesim replay,node:nodejs)

.PHONY: deps-browsers conformance
deps-browsers: deps-lab
	$(call apt_install,the conformance suite,chromium:chromium firefox-esr:firefox-esr)

# icesim against real browsers, scenario by scenario; prints the table of matches and differences.
conformance: install deps-system deps-browsers
	$(PYTHON) -m pytest $(PYTEST_FLAGS) tests/conformance

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
