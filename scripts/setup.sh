#!/usr/bin/env bash
# Create .venv (if missing) and install PilotQA into it. Idempotent: a stamp records the hash of the
# inputs, so a second run with nothing changed returns at once.
# torch is pinned HERE, installed first: pip then takes the CPU wheel from this machine's disk instead of
# pulling a multi-GB CUDA build to satisfy sentence-transformers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
TORCH_PIN="torch==2.13.0"
stamp="$VENV/.pilotqa-setup"
want=$( (echo "$TORCH_PIN"; cat pyproject.toml scripts/setup.sh) | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing $TORCH_PIN (CPU build), then PilotQA"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "$TORCH_PIN"
    "$VENV/bin/python" -m pip install -q -e ".[test,milvus]"
    echo "$want" > "$stamp"
fi

# The browser test drives Debian's chromium (Playwright's own browser download cannot work offline), and
# its screenshots need a CJK font to show Chinese instead of boxes.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [ "${1:-}" = "--browser" ] && [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing ${need[*]} for the browser test"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
            || echo "warning: could not install ${need[*]}; the browser test will report it" >&2
    else
        echo "warning: missing ${need[*]}; install them (apt-get install ${need[*]}) for the browser test" >&2
    fi
fi
