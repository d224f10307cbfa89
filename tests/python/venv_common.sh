# Sourced by build_wheel.sh and standalone_install.sh: bootstrap's pinned Python tools, a fresh
# virtual environment that sees them, and step timings.
#   need_tools MODULE...   exit 77 (skipped) unless $XERVO_DEPS_DIR/python-venv imports them
#   fresh_venv DIR         a venv without pip of its own; the tools' site-packages via a .pth file,
#                          so pip runs with --no-index --no-build-isolation and downloads nothing
#   now / took WHAT START  "WHAT: 1.2 s"
deps=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
tools=$deps/python-venv
need_tools() {
  local imports; imports=$(IFS=,; echo "$*")
  if [ ! -x "$tools/bin/python" ] || ! "$tools/bin/python" -c "import $imports" 2>/dev/null; then
    echo "skipped: bootstrap's Python tools are not in $tools (run scripts/bootstrap)"
    exit 77
  fi
}
fresh_venv() {
  rm -rf "$1"
  "$tools/bin/python" -m venv --without-pip "$1"
  local site; site=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$tools/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/xervo_test_tools.pth"
}
now() { echo "$EPOCHREALTIME"; }
took() { awk -v a="$2" -v b="$(now)" -v what="$1" 'BEGIN { printf "%s: %.1f s\n", what, b - a }'; }
