#!/bin/sh
# Runs a test binary of the CPU build against a GPU build of the same llama.cpp
# (XERVO_GPU=vulkan|cuda scripts/bootstrap puts it in the deps cache): the binaries carry RUNPATH (the
# linker's default here), which LD_LIBRARY_PATH overrides, so libllama, libggml and ggml's GPU
# backend come from that build. Exit code 77 (ctest: skipped) when there is no such build.
# Usage: run_gpu_test.sh vulkan|cuda LLAMA_DIR TEST_BINARY [ARGS...]
set -eu
kind=$1
dir=$2
shift 2
bin="$dir/build/bin"
if [ ! -f "$bin/libggml-$kind.so" ] || [ ! -f "$dir/.built-v1" ]; then
  echo "SKIP: no $kind llama.cpp in $dir (XERVO_GPU=$kind scripts/bootstrap builds it)"
  exit 77
fi
# With DT_RPATH instead of DT_RUNPATH, LD_LIBRARY_PATH would come second: the CPU libraries would load.
if readelf -d "$1" 2>/dev/null | grep -q '(RPATH)'; then
  echo "$1 has DT_RPATH, which LD_LIBRARY_PATH cannot override: link with -Wl,--enable-new-dtags" >&2
  exit 1
fi
case "$kind" in
  vulkan)
    # ggml-vulkan skips CPU-type devices (lavapipe) unless GGML_VK_VISIBLE_DEVICES names them; on a
    # machine with a real GPU set it to that GPU's index.
    GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES-0}
    export GGML_VK_VISIBLE_DEVICES
    XERVO_TEST_GPU_BACKEND=Vulkan ;;
  cuda) XERVO_TEST_GPU_BACKEND=CUDA ;;
  *) echo "unknown GPU kind '$kind'" >&2; exit 1 ;;
esac
LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH XERVO_TEST_GPU_BACKEND
exec "$@"
