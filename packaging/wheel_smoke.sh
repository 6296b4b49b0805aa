#!/usr/bin/env bash
# Build the wheel and check what a user of `pip install ndestudio` gets: the package from the
# wheel alone (not this checkout), its bundled examples, a short training run and an offscreen
# start of the window. Run by .ci/run; usage: packaging/wheel_smoke.sh [PYTHON]
#
# The venv borrows the already-installed dependencies (a path file naming $PY's site folders)
# so that CI does not download PyTorch and Qt twice; the package itself is installed from the wheel with
# --no-deps and every command runs from an empty folder, so nothing of the checkout is seen.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-python3}}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

rm -rf build/lib build/bdist.*  # (setuptools' staging: stale files would reach the wheel)
"$PY" -m build --wheel --no-isolation --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/ndestudio-*.whl)
echo "built $(basename "$WHEEL")"
"$PY" -m venv "$WORK/venv"
# The dependencies: $PY's site folders, as plain path entries after the venv's own (their .pth
# files, among them this checkout's editable install, are not run).
SITE=$("$WORK/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
"$PY" -c "import site; print('\n'.join(site.getsitepackages()))" >"$SITE/_dependencies.pth"
"$WORK/venv/bin/python" -m pip install -q --no-deps "$WHEEL"

mkdir "$WORK/user" && cd "$WORK/user"
VPY="$WORK/venv/bin/python"
# The package and its resources come from the wheel's install, not the checkout.
"$VPY" - "$WORK/venv" <<'PYEOF'
import sys
from pathlib import Path
import ndestudio
from ndestudio.core.resources import examples, resource_path
venv = Path(sys.argv[1]).resolve()
where = Path(ndestudio.__file__).resolve()
assert venv in where.parents, f"ndestudio imported from {where}, not the wheel's install"
assert venv in resource_path("icons", "ndestudio.svg").resolve().parents
names = sorted(examples())
assert names == ["cde_japanese_vowels", "cde_spirals", "ode_spiral", "sde_brownian"], names
print(f"package and resources from the wheel: {where.parent}")
PYEOF
"$WORK/venv/bin/ndestudio" demos >/dev/null
"$WORK/venv/bin/ndestudio" examples
"$WORK/venv/bin/ndestudio" train ode_spiral --out run --iterations 5
test -f run/checkpoint.pt
XDG_CONFIG_HOME="$WORK/config" QT_QPA_PLATFORM=offscreen "$WORK/venv/bin/ndestudio" gui --smoke
echo "wheel smoke: passed"
