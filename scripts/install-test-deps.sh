#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain, only when it is missing, so
# running it again is cheap. Today: Debian's chromium, driven headless by the live-votes
# browser test (server/tests/browser.rs). Needs root (CI runs as root); without root or
# apt it prints why and leaves the browser test to skip with a message.
set -euo pipefail

# Each part returns (not exits) when it has nothing to do, so the parts after it run.
install_chromium() {
if [ -x /usr/bin/chromium ]; then
  return 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: apt-get not found; the headless-browser test will be skipped" >&2
  return 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: not root, cannot install chromium; the headless-browser test will be skipped" >&2
  return 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-test-deps: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
}
install_chromium

# Logical decoding (wal_level = logical) for the postgres-cdc source's tests.
bash "$(dirname "$0")/postgres-logical.sh"

# The tansu Kafka-protocol broker for the Kafka connector's tests (cached outside the repo).
bash "$(dirname "$0")/install-tansu.sh"
