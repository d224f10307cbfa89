#!/usr/bin/env bash
# `pip install ./python` the way a user without an installed xervo runs it: no CMAKE_PREFIX_PATH, so
# python/CMakeLists.txt builds libxervo from this repository itself (its add_subdirectory path), and
# the wheel carries libxervo.so and the engines' libraries (llama.cpp, ggml, whisper.cpp) beside the
# extension module. Then, in a fresh virtual environment:
#   - every xervo, llama.cpp, ggml and whisper library the module loads resolves inside the package;
#   - a generated embedder embeds and a generated generator generates through the package.
# Nothing is downloaded: bootstrap's pinned build tools ($XERVO_DEPS_DIR/python-venv) are seen
# through a .pth file (--no-index, --no-build-isolation). The compile goes through ccache with the
# same base folder as the main build, so after it only changed sources compile.
# Exit 77 (skipped) when bootstrap's Python tools are missing.
# Usage: standalone_install.sh SOURCE_DIR WORK_DIR XERVO_TESTMODEL
set -euo pipefail
source=$1 work=$2 testmodel=$3
. "$(dirname "$0")/venv_common.sh"
need_tools nanobind scikit_build_core numpy

t=$(now)
rm -rf "$work/models"
mkdir -p "$work/models"
fresh_venv "$work/venv"
took "virtual environment" "$t"

t=$(now)
# ccache reuses the main build's objects when the command lines match: the same compiler names
# (ccache hashes them: c++ and g++ differ) and the build folder at the same depth below the source
# as build/ (its relative paths, with base_dir = the source folder).
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-build-isolation \
  -Cbuild-dir="$source/build-python" -Ccmake.args=-GNinja -Ccmake.define.CMAKE_CXX_COMPILER=c++ \
  -Ccmake.define.CMAKE_C_COMPILER=cc "$source/python"
took "pip install ./python (libxervo built from the repository)" "$t"

t=$(now)
"$testmodel" --kind embedder -o "$work/models/embedder.gguf" >/dev/null
"$testmodel" --kind generator -o "$work/models/generator.gguf" >/dev/null
# The tools' .pth goes before the check: only numpy is needed from it, and the package must come
# from the venv's own site-packages.
XERVO_MODELS="$work/models" "$work/venv/bin/python" - <<'PY'
import os, pathlib, subprocess, sys
import xervo, xervo._xervo as native

package = pathlib.Path(xervo.__file__).resolve().parent
assert str(package).startswith(sys.prefix), f"xervo was imported from {package}, not the venv"
names = sorted(p.name for p in package.iterdir())
for stem in ("libxervo.so", "libllama.so", "libggml.so", "libggml-base.so"):
    assert any(n.startswith(stem) for n in names), f"{stem} is not in the package: {names}"

# What the dynamic loader resolves for the module: the engines must come from the package.
ldd = subprocess.run(["ldd", native.__file__], check=True, capture_output=True, text=True).stdout
for line in ldd.splitlines():
    name = line.strip().split(" ")[0]
    if "not found" in line:
        raise SystemExit(f"unresolved: {line.strip()}")
    if name.startswith(("libxervo", "libllama", "libggml", "libwhisper")):
        where = pathlib.Path(line.split("=>")[1].split("(")[0].strip()).resolve()
        assert where.parent == package, f"{name} resolves to {where}, outside the package {package}"
print("libraries from the package:", ", ".join(n for n in names if n.startswith("lib")))

models = pathlib.Path(os.environ["XERVO_MODELS"])
rt = (xervo.Runtime.builder()
      .alias("embed/tiny", task="embed", model=str(models / "embedder.gguf"))
      .alias("chat/tiny", task="generate", model=str(models / "generator.gguf"))
      .build())
vectors = rt.embedding("embed/tiny").embed(["hello", "world"])
assert vectors.shape[0] == 2 and vectors.shape[1] > 0 and str(vectors.dtype) == "float32", vectors
out = rt.generator("chat/tiny").generate("Hello", max_tokens=4, temperature=0)
assert out.completion_tokens > 0, out.text
print("embed", vectors.shape, "and generate", out.completion_tokens, "tokens through the installed package")
PY
took "smoke test of the installed package" "$t"
