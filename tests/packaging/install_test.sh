#!/usr/bin/env bash
# The installed package as a user meets it: `cmake --install` into a fresh prefix, the prefix moved
# elsewhere (nothing may point back at the build tree or the old place), then, out of tree:
#   1. examples/embed-app through find_package(xervo), run on generated models;
#   2. the same source through pkg-config;
#   3. examples/hash-embedder-plugin against the installed plugin.h, served by the installed
#      `xervo serve` and asked for /v1/embeddings.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR XERVO_TESTMODEL WORK_DIR
set -euo pipefail
build=$1 source=$2 testmodel=$3 work=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

cmake --install "$build" --prefix "$work/prefix" --component xervo --strip >"$work/install.log"
mv "$work/prefix" "$work/moved"
prefix=$work/moved
for f in include/xervo/runtime.h include/xervo/plugin.h lib/libxervo.so lib/cmake/xervo/xervoConfig.cmake \
         lib/cmake/xervo/xervoConfigVersion.cmake lib/cmake/xervo/xervoTargets.cmake lib/pkgconfig/xervo.pc bin/xervo; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
if grep -rlF "$build" "$prefix/lib/cmake" "$prefix/lib/pkgconfig" "$prefix/include"; then
  fail "installed files name the build tree $build"
fi
for bin in "$prefix/lib/libxervo.so" "$prefix/bin/xervo"; do
  if readelf -d "$bin" | grep -E 'R(UN)?PATH' | grep -qF "$build"; then fail "$bin: its run path names the build tree"; fi
  if ldd "$bin" | grep -q 'not found'; then ldd "$bin"; fail "$bin: a library is not found from the moved prefix"; fi
done
# The engines' libraries come from the prefix itself, not from the deps cache they were built in.
deps=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
for lib in "$prefix"/lib/libllama*.so.* "$prefix"/lib/libggml*.so.* "$prefix"/lib/libwhisper.so; do
  [ -e "$lib" ] && [ ! -L "$lib" ] || continue
  if readelf -d "$lib" | grep -E 'R(UN)?PATH' | grep -vqF '[$ORIGIN]'; then fail "$lib: its run path is not \$ORIGIN"; fi
done
if ldd "$prefix/bin/xervo" | grep -E 'lib(llama|ggml|whisper)' | grep -qF "$(realpath "$deps")"; then
  ldd "$prefix/bin/xervo"; fail "bin/xervo loads an engine library from the deps cache"
fi

"$testmodel" --kind embedder -o "$work/embedder.gguf" >/dev/null
"$testmodel" --kind reranker -o "$work/reranker.gguf" >/dev/null

# 1. find_package(xervo)
cmake -S "$source/examples/embed-app" -B "$work/app" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$work/app-configure.log" || { cat "$work/app-configure.log"; fail "configure embed-app"; }
cmake --build "$work/app" >"$work/app-build.log" 2>&1 || { cat "$work/app-build.log"; fail "build embed-app"; }
out=$("$work/app/xervo-embed-app" "$work/embedder.gguf" "$work/reranker.gguf") || { echo "$out"; fail "embed-app run"; }
echo "$out"
grep -q '^embedding 2: 64 dimensions, norm 1.000$' <<<"$out" || fail "embed-app: three normalized 64-dimension vectors expected"
[ "$(grep -c '^rank: ' <<<"$out")" = 2 ] || fail "embed-app: two ranked documents expected"

# 2. pkg-config
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs xervo) || fail "pkg-config xervo"
${launcher:+ccache} c++ -O1 "$source/examples/embed-app/main.cpp" -o "$work/app-pc" $flags || fail "build with pkg-config flags"
"$work/app-pc" "$work/embedder.gguf" "$work/reranker.gguf" | grep -q '^ok$' || fail "pkg-config build run"

# 3. the plugin, out of tree, served by the installed xervo
cmake -S "$source/examples/hash-embedder-plugin" -B "$work/plugin" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$work/plugin-configure.log" || { cat "$work/plugin-configure.log"; fail "configure plugin"; }
cmake --build "$work/plugin" >"$work/plugin-build.log" 2>&1 || { cat "$work/plugin-build.log"; fail "build plugin"; }
if nm -D --defined-only "$work/plugin/hash_embedder.so" | grep -vE ' (xervo_plugin_[a-z_]+|_init|_fini)$' | grep -q ' T '; then
  fail "the plugin exports more than its two entry points"
fi
cat >"$work/xervo.toml" <<TOML
[plugins]
paths = ["plugin"]
[models."embed/hash"]
task = "embed"
provider = "hashembed"
model = "hash"
options = { dimensions = 16 }
TOML
XERVO_HOME="$work/home" "$prefix/bin/xervo" --config "$work/xervo.toml" serve --port 0 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's#.*listening on http://[^:]*:\([0-9]*\).*#\1#p' "$work/serve.log" | head -n1)
  [ -n "$port" ] && break
  kill -0 $server 2>/dev/null || { cat "$work/serve.log"; fail "xervo serve exited"; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/serve.log"; fail "xervo serve did not listen"; }
answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
  -d '{"model":"embed/hash","input":["the cat sat","the cat sat"]}' "http://127.0.0.1:$port/v1/embeddings") || fail "POST /v1/embeddings"
python3 - "$answer" <<'PY' || { cat "$work/serve.log"; fail "embeddings answer: $answer"; }
import json, math, sys
data = json.loads(sys.argv[1])["data"]
assert len(data) == 2 and all(len(d["embedding"]) == 16 for d in data), data
assert data[0]["embedding"] == data[1]["embedding"]
assert abs(math.sqrt(sum(v * v for v in data[0]["embedding"])) - 1) < 1e-5
PY
kill -TERM $server
wait $server || fail "xervo serve did not exit cleanly on SIGTERM"
trap - EXIT
echo "ok: installed package, example app (find_package and pkg-config) and out-of-tree plugin through xervo serve"
