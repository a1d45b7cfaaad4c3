#!/usr/bin/env bash
# Installs the tansu broker (an Apache-Kafka-protocol broker written in Rust) that the
# Kafka connector tests run against (connectors/tests/kafka.rs, engine/tests/kafka.rs).
# The binary goes into a cache outside the repository, so `cargo clean` does not drop it:
#   ${LAASTER_TEST_DEPS:-$HOME/.cache/laaster-test-deps}/bin/tansu
# Does nothing when the binary is already there. Building it from crates.io takes about
# 20 minutes on a 2-core machine.
set -euo pipefail

root="${LAASTER_TEST_DEPS:-$HOME/.cache/laaster-test-deps}"
bin="$root/bin/tansu"
if [ -x "$bin" ]; then
  exit 0
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-tansu: cargo not found; the Kafka tests will fail until $bin exists" >&2
  exit 1
fi
mkdir -p "$root"
echo "install-tansu: building tansu into $root (takes a while)" >&2
# A target dir of its own: the workspace's target/ is shared and may be cleaned.
CARGO_TARGET_DIR="$root/target" cargo install tansu --locked --features dynostore --root "$root"
rm -rf "$root/target"
echo "install-tansu: installed $("$bin" --version 2>/dev/null || echo "$bin")" >&2
