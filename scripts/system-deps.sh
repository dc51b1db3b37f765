#!/usr/bin/env bash
# Installs the Debian packages SlabDB's build and tests need, when they are missing.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

need=()
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
command -v make >/dev/null || need+=(make)
# PostgreSQL 15 server binaries for the sync tests (/usr/lib/postgresql/15/bin).
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql)
# Debian's Chromium for the web app's browser tests (Playwright for Python drives it;
# `playwright install` would download a browser of its own, which the network refuses).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Java 17 for pyspark 4.x (the spark extra's local[2] tests in tests/spark/).
command -v java >/dev/null || need+=(openjdk-17-jre-headless)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}"
