#!/usr/bin/env bash
# The project's entry points, each idempotent and fast when already set up:
#   ./dev.sh smoke   set up .venv and run the smoke suite on the embedded defaults
#   ./dev.sh test    set up .venv (Chromium for the browser test, node_modules for the
#                    Node.js example) and run every test
#   ./dev.sh setup   set up .venv and the Node.js example's node_modules only
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

setup_node() {
    # The example Node.js service (examples/node-service) and its test need its node_modules.
    local dir=examples/node-service
    if ! command -v npm >/dev/null 2>&1; then
        echo "note: npm is not installed; the Node.js example's test will be skipped" >&2
        return
    fi
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        touch "$dir/node_modules"  # npm ci may keep an old mtime; mark it as up to date
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
        setup_node
        shift
        # Two test processes (CHAOSHARNESS_TEST_WORKERS=0 for one): most tests wait on real
        # servers and runs, so two at a time halve the wall time on a 2-core machine. A test
        # file stays in one process (--dist loadfile): its module fixtures are shared.
        workers=${CHAOSHARNESS_TEST_WORKERS:-2}
        if [ "$workers" != 0 ]; then
            set -- -n "$workers" --dist loadfile "$@"
        fi
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    setup)
        setup_venv
        setup_node
        ;;
    *)
        echo "usage: $0 smoke|test|setup [args...]" >&2
        exit 2
        ;;
esac
