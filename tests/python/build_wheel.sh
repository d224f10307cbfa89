#!/usr/bin/env bash
# Builds the xervo wheel the quick way and installs it into a fresh virtual environment for pytest:
#   1. `cmake --install` of the already built C++ package into WORK/prefix (component xervo);
#   2. a venv (no pip of its own) that sees bootstrap's pinned tools ($XERVO_DEPS_DIR/python-venv)
#      through a .pth file, so nothing is downloaded (--no-index, --no-build-isolation);
#   3. `pip wheel ./python` against that prefix: scikit-build-core compiles module.cpp only, through
#      ccache, in a build folder kept between runs; then `pip install` of the wheel.
# Prints how long each step took. Exit 77 (skipped) when bootstrap's Python tools are missing.
# Usage: build_wheel.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 source=$2 work=$3
. "$(dirname "$0")/venv_common.sh"
need_tools nanobind scikit_build_core pytest numpy openai

t=$(now)
rm -rf "$work/prefix"
cmake --install "$build" --prefix "$work/prefix" --component xervo --strip >/dev/null
took "install the C++ package" "$t"

t=$(now)
fresh_venv "$work/venv"
took "virtual environment" "$t"

t=$(now)
rm -rf "$work/wheels"
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=$source CCACHE_NOHASHDIR=1
  launcher=(-Ccmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache -Ccmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache)
fi
"$work/venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-index --no-deps --no-build-isolation \
  -w "$work/wheels" -Cbuild-dir="$work/skbuild" -Ccmake.define.CMAKE_PREFIX_PATH="$work/prefix" -Ccmake.define.XERVO_REQUIRE_INSTALLED=ON \
  -Ccmake.args=-GNinja "${launcher[@]}" "$source/python"
took "pip wheel (module.cpp against the installed libxervo)" "$t"

t=$(now)
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps --force-reinstall \
  "$work"/wheels/xervo-*.whl
"$work/venv/bin/python" -c 'import xervo, xervo._xervo; print("installed", xervo.__file__)'
took "pip install of the wheel" "$t"
