#!/usr/bin/env bash
# Speech to text: `xervo transcribe` (whisper.cpp on llama.cpp's ggml 0.25, the build xervo ships)
# against whisper.cpp's own `whisper-cli` built with its bundled ggml 0.15 (the reference, built once
# into the deps cache for this bench only), on the same packaged tiny.en model and the same speech
# made by espeak-ng, same thread count. Whole process wall time (load + transcription), best of 3;
# the table gives the ratio xervo / whisper-cli. Skips when the model or espeak-ng is missing.
#   bash bench/whisper/run.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
DEPS_DIR=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
MODEL="$DEPS_DIR/models/whisper-tiny.en.bin"
THREADS=$(nproc)  # xervo's whisper provider uses every core by default
XERVO="$BUILD/src/cli/xervo"
[ -f "$MODEL" ] || { echo "skip: $MODEL missing (scripts/bootstrap)"; exit 0; }
command -v espeak-ng >/dev/null || { echo "skip: espeak-ng missing (scripts/bootstrap)"; exit 0; }
[ -x "$XERVO" ] || { echo "skip: $XERVO not built"; exit 0; }

SRC="$DEPS_DIR/nodejs-whisper-0.3.1/package/cpp/whisper.cpp"
REF_DIR="$DEPS_DIR/bench-whisper-cli-own-ggml"
if [ ! -x "$REF_DIR/build/bin/whisper-cli" ]; then
  echo "building the reference whisper-cli with whisper.cpp's own ggml (one time)" >&2
  cmake -S "$SRC" -B "$REF_DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_SERVER=OFF -DGGML_NATIVE=ON >"$REF_DIR.configure.log" 2>&1
  cmake --build "$REF_DIR/build" -j "$(nproc)" --target whisper-cli >"$REF_DIR.build.log" 2>&1
fi
REF="$REF_DIR/build/bin/whisper-cli"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TEXT="Please open the window and close the door. My name is John and I live in London."
espeak-ng -s 150 -w "$TMP/speech.wav" "$TEXT $TEXT $TEXT $TEXT $TEXT"
# whisper-cli reads 16 kHz WAV only: both get the same 16 kHz file.
best() {  # best of 3 wall-clock seconds of "$@"
  local b=""
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    b=$(echo "$s $e $b" | awk '{t=$2-$1; if ($3=="" || t<$3) print t; else print $3}')
  done
  echo "$b"
}
python3 - "$TMP/speech.wav" "$TMP/speech16k.wav" <<'PY'
import sys, wave, audioop
src = wave.open(sys.argv[1]); frames = src.readframes(src.getnframes())
out, _ = audioop.ratecv(frames, src.getsampwidth(), src.getnchannels(), src.getframerate(), 16000, None)
dst = wave.open(sys.argv[2], "wb"); dst.setnchannels(1); dst.setsampwidth(2); dst.setframerate(16000); dst.writeframes(out)
PY
DUR=$(python3 -c "import wave,sys; w=wave.open(sys.argv[1]); print(round(w.getnframes()/w.getframerate(),1))" "$TMP/speech16k.wav")
T_XERVO=$(XERVO_HOME="$TMP/home" XERVO_CONFIG=/dev/null best "$XERVO" transcribe -m "$MODEL" -f text "$TMP/speech16k.wav")
T_REF=$(best "$REF" -m "$MODEL" -t "$THREADS" -nt -np -f "$TMP/speech16k.wav")
printf '\n%s s of speech, tiny.en, %s threads, best of 3 (whole process: load + transcribe)\n' "$DUR" "$THREADS"
printf '| %-44s | %8s | %6s |\n' "run" "seconds" "ratio"
printf '|%s|%s|%s|\n' "----------------------------------------------" "----------" "--------"
printf '| %-44s | %8.2f | %6.2f |\n' "whisper-cli, whisper.cpp's own ggml 0.15.1" "$T_REF" 1
printf '| %-44s | %8.2f | %6.2f |\n' "xervo transcribe, llama.cpp's ggml 0.25.1" "$T_XERVO" "$(echo "$T_XERVO $T_REF" | awk '{print $1/$2}')"
