#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs the integration tests (pytest) against the built procd and procctl.
: "${srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${PYTHON:=python3}"
cd "$srcdir/tests/integration" || exit 99
exec $PYTHON -m pytest -q -rs -p no:cacheprovider ${PYTEST_ARGS:-} .
