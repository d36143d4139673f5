#!/usr/bin/env bash
# Runs each libFuzzer harness of tests/fuzz for SECONDS, one after the other, on a corpus seeded
# from the committed fixtures (tests/fixtures, tests/fuzz/seeds) and kept between runs in
# BUILD/fuzz-corpus/NAME. Prints one line per harness (executions, corpus, findings); a finding
# (crash, sanitizer report, uncaught exception, timeout, memory over the limit) is saved to
# BUILD/fuzz-findings/ and makes the script exit 1 after the remaining harnesses ran.
# Usage: [FUZZ_JOBS=N] scripts/run-fuzzers.sh BUILD SECONDS [HARNESS...]   (default: all thirteen;
# FUZZ_JOBS harnesses at a time, default 1)
set -uo pipefail
build=$(cd "$1" && pwd)
seconds=$2
shift 2
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(safetensors pth zip onnx caffemodel prototxt idx cifar list checkpoint image search_index npy)
root=$(cd "$(dirname "$0")/.." && pwd)
fx=$root/tests/fixtures
seeds() {  # the committed files each harness starts from
    case $1 in
        safetensors) ls "$fx"/narrow_*.safetensors "$fx"/fmnist_demo_logits.safetensors | grep -v _io ;;
        pth|zip) ls "$fx"/*.pth ;;
        onnx) ls "$fx"/*.onnx ;;
        caffemodel) ls "$fx"/*.caffemodel ;;
        prototxt) ls "$fx"/*.prototxt ;;
        image) ls "$fx"/*.jpg "$fx"/*.png ;;
    esac
    [ -d "$root/tests/fuzz/seeds/$1" ] && ls -d "$root/tests/fuzz/seeds/$1"/*
    return 0
}
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp
mkdir -p "$build/fuzz-findings" "$build/fuzz-logs"
run_one() {
    local h=$1
    corpus=$build/fuzz-corpus/$h
    mkdir -p "$corpus"
    for f in $(seeds "$h"); do cp -n "$f" "$corpus/" 2>/dev/null || true; done
    dict=()
    [ -f "$root/tests/fuzz/$h.dict" ] && dict=(-dict="$root/tests/fuzz/$h.dict")
    log=$build/fuzz-logs/$h.log
    "$build/tests/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-findings/$h-" "${dict[@]}" "$corpus" >"$log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    units=$(ls "$corpus" | wc -l)
    if [ $status -eq 0 ]; then
        echo "fuzz_$h: ${seconds} s, ${runs:-?} executions, corpus $units inputs, no findings"
    else
        echo "fuzz_$h: FINDING (exit $status) after ${runs:-?} executions; log $log:"
        grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==|#[0-9]+ 0x' "$log" | head -25
    fi
    return $status
}
failed=0
jobs=${FUZZ_JOBS:-1}
for ((i = 0; i < ${#harnesses[@]}; i += jobs)); do
    pids=()
    for h in "${harnesses[@]:i:jobs}"; do
        run_one "$h" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
done
exit $failed
