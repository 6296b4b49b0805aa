#!/usr/bin/env bash
# Build the one-folder desktop application with PyInstaller: dist/NDE Studio/NDE Studio.
# Usage: packaging/build_app.sh [PYTHON]   (it takes a few minutes: PyTorch is large)
#
# The bundle is built in a fresh venv holding NDE Studio's wheel and its dependencies, then
# checked with its own smoke flag (window, core, 5 training steps, quit) and a bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${1:-${PYTHON:-python3}}
WORK=${WORK:-$(mktemp -d)}
echo "== wheel"
rm -rf build/lib build/bdist.*
"$PY" -m build --wheel --no-isolation --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; exit 1; }
echo "== venv with the wheel and PyInstaller"
[ -x "$WORK/venv/bin/python" ] || "$PY" -m venv "$WORK/venv"  # (kept: a rebuild is quicker)
VPY="$WORK/venv/bin/python"
# PyTorch's CPU build by default, from PyTorch's CPU index (on Linux PyPI's torch is the CUDA
# build, gigabytes more); BUNDLE_TORCH names another build, BUNDLE_TORCH_INDEX another index
# (empty: pip's own configuration, e.g. a local wheel folder).
INDEX=${BUNDLE_TORCH_INDEX-https://download.pytorch.org/whl/cpu}
"$VPY" -m pip install -q ${INDEX:+--index-url "$INDEX"} "${BUNDLE_TORCH:-torch==2.13.0}"
"$VPY" -m pip install -q --force-reinstall --no-deps "$WORK"/dist/ndestudio-*.whl
# (Pillow: PyInstaller converts the PNG icon with it on macOS and Windows.)
"$VPY" -m pip install -q "$WORK"/dist/ndestudio-*.whl "pyinstaller>=6.10" pillow
echo "== pyinstaller"
SECONDS=0
# From $WORK, not the checkout: there `import ndestudio` would find the source tree, which
# lacks ndestudio.resources (the wheel maps resources/ there).
(cd "$WORK" && "$VPY" -m PyInstaller --noconfirm --clean --distpath "$ROOT/dist" \
  --workpath "$WORK/pyinstaller" "$ROOT/packaging/ndestudio.spec")
echo "built dist/NDE Studio in ${SECONDS} s ($(du -sh "dist/NDE Studio" | cut -f1))"
echo "== smoke"
APP="$ROOT/dist/NDE Studio/NDE Studio"
cd "$WORK"
"$APP" examples
rm -rf "$WORK/run" "$WORK/config"
"$APP" train ode_spiral --out "$WORK/run" --iterations 5
# TorchScript export compiles the bundled sources and checks the file in a process of the
# bundle acting as Python (packaging/ndestudio_app.py serves -c and -m).
"$APP" export "$WORK/run/checkpoint.pt" --out "$WORK/run/model.pt"
"$APP" -m ndestudio about
XDG_CONFIG_HOME="$WORK/config" QT_QPA_PLATFORM=offscreen "$APP" gui --smoke
echo "bundle smoke: passed"
