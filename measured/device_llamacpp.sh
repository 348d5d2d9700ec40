#!/usr/bin/env bash
# Ground truth for llama.cpp on a datacenter GPU: build llama-bench from the llama.cpp tree that
# llama-cpp-python 0.3.36 vendors (commit 0c1e570; its sdist is on PyPI) for Hopper (sm_90), write
# random-weight GGUF models in the catalog's shapes (measured/random_gguf.py) and time prompt processing
# (pp512, pp4096) and generation (tg128) with every layer on the GPU, flash attention off (the
# llama-bench default when the published llama.cpp rows were measured). Results go to
# $OUT/llama_bench.jsonl (one line per test), logs to $OUT/*.log; measured/llamacpp_rows.py turns the
# results into measurement rows.
#
#   LCP_SRC=path/to/llama.cpp OUT=results bash measured/device_llamacpp.sh
set -u -o pipefail
OUT=${OUT:?set OUT to a results folder}
SRC=${LCP_SRC:-.lcp/llama.cpp}
BUILD=${LCP_BUILD:-/tmp/lcp-cuda}
MODELS=${MODELS:-"llama-3-8b:q4_0 llama-3-8b:q8_0 llama-3-8b:f16 llama-3.2-1b:q4_0 llama-3.2-1b:f16 llama-2-13b:q4_0"}
# The models (~40 GB together) go to RAM where /dev/shm has room, else to /tmp.
if [ "$(df -B1G --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 48 ] 2>/dev/null; then shm=/dev/shm/gguf; else shm=/tmp/gguf; fi
GGUF_DIR=${GGUF_DIR:-$shm}
t0=$(date +%s)
df -h /tmp /dev/shm
mkdir -p "$GGUF_DIR"

# Models are written while the build runs (one core each; the build takes the rest).
(for spec in $MODELS; do
   PYTHONPATH="$SRC/gguf-py" python3 measured/random_gguf.py "${spec%%:*}" "${spec##*:}" "$GGUF_DIR/${spec/:/-}.gguf" \
     && echo "$(( $(date +%s) - t0 )) s wrote $spec"
 done) > "$OUT/gguf.log" 2>&1 &
writer=$!

cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real \
  -DGGML_CUDA_FA=OFF -DGGML_CUDA_NCCL=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
timeout "${BUILD_TIMEOUT:-360}" cmake --build "$BUILD" --target llama-bench -j "$(nproc)" > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
echo "$(( $(date +%s) - t0 )) s built llama-bench"
wait "$writer"
cat "$OUT/gguf.log"

for spec in $MODELS; do
  name=${spec/:/-}
  timeout 120 "$BUILD/bin/llama-bench" -m "$GGUF_DIR/$name.gguf" -ngl 99 -fa 0 -p 512,4096 -n 128 -r 3 -o jsonl \
    > "/tmp/$name.jsonl" 2> "/tmp/$name.err" || tail -5 "/tmp/$name.err" | tee -a "$OUT/bench.log"
  cat "/tmp/$name.jsonl" >> "$OUT/llama_bench.jsonl"
  python3 -c "import json,sys; [print(sys.argv[1], r['n_prompt'], r['n_gen'], round(r['avg_ts'], 1), r['gpu_info']) for r in map(json.loads, open(sys.argv[2]))]" \
    "$name" "/tmp/$name.jsonl" || true
  rm -f "$GGUF_DIR/$name.gguf"
done
echo "$(( $(date +%s) - t0 )) s done"
rm -rf "$GGUF_DIR"
