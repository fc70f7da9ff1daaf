#!/usr/bin/env bash
# The project's two entry points, each idempotent and fast when already set up:
#   ./dev.sh smoke   set up .venv and run the smoke suite on the embedded defaults
#   ./dev.sh test    set up .venv (and Chromium for the browser test) and run every test
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)

setup_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    if [ ! -f "$STAMP" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e ".[dev,fast]"
        rm -f "$VENV"/.installed-*
        touch "$STAMP"
    fi
}

setup_chromium() {
    # The report test opens report.html in headless Chromium (Debian's package).
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the browser test..."
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: chromium is not installed and we are not root; the browser test will be skipped" >&2
    fi
}

case "${1:-}" in
    smoke)
        setup_venv
        shift
        exec "$VENV/bin/chaosharness" suite smoke "$@"
        ;;
    test)
        setup_venv
        setup_chromium
        shift
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    setup)
        setup_venv
        ;;
    *)
        echo "usage: $0 smoke|test|setup [args...]" >&2
        exit 2
        ;;
esac
