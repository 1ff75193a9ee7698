#!/usr/bin/env bash
# Installs what terrane's tests and demo need on a fresh machine: the local AWS endpoint
# (moto's server) into a git-ignored virtual environment inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION="5.2.5"
if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/pip show moto 2>/dev/null | grep -q "^Version: ${MOTO_VERSION}$"; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi
echo "moto ${MOTO_VERSION} ready in .venv"
