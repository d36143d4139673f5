#!/bin/bash
# The figures of the "By CPU" table of docs/performance.md on the machine at hand: ONNX Runtime and
# alexnet-bench precision interleaved (two rounds), alexnet, the stored fc layout forced
# (session 7's rule) against the timed choice, and the same with ONEDNN_MAX_CPU_ISA=AVX2.
# Usage (from the repository, after make build): scripts/measure-by-cpu.sh [OUT.jsonl]
cd "$(dirname "$0")/.."
out=${1:-build/bench-by-cpu.jsonl}
: > $out
lscpu | grep -E "Model name|Flags" | cut -c1-200 > ${out%.jsonl}-cpu.txt
B=build/alexnet-bench
for round in 1 2; do
  scripts/peer-ort/run.sh build 10 >> $out 2>&2
  $B precision --arch alexnet-tv --batches 32 --runs 10 --latency-runs 30 >> $out
done
$B precision --arch alexnet --batches 32 --runs 10 --latency-runs 30 >> $out
ALEXNET_FC_LAYOUT=stored $B --arch alexnet-tv --skip-embed --batches 32 --runs 10 --latency-runs 5 | sed 's/^{/{"forced":"stored (the old rule)",/' >> $out
$B --arch alexnet-tv --skip-embed --batches 32 --runs 10 --latency-runs 5 | sed 's/^{/{"forced":"none",/' >> $out
for arch in alexnet-tv alexnet; do
  ONEDNN_MAX_CPU_ISA=AVX2 $B precision --arch $arch --batches 32 --runs 10 --latency-runs 30 >> $out
done
ONEDNN_MAX_CPU_ISA=AVX2 ALEXNET_FC_LAYOUT=stored $B --arch alexnet-tv --skip-embed --batches 32 --runs 10 --latency-runs 5 | sed 's/^{/{"forced":"stored (the old rule)",/' >> $out
ONEDNN_MAX_CPU_ISA=AVX2 $B --arch alexnet-tv --skip-embed --batches 32 --runs 10 --latency-runs 5 | sed 's/^{/{"forced":"none",/' >> $out
$B --arch alexnet --batches 32 --runs 5 --latency-runs 20 >> $out
