#!/bin/bash
# The signal campaign of issue 22: the mpirun Ctrl-C test 50 times beside two busy processes, then
# test_signals with 50 runs per case (the mpirun case too). Prints one line per part.
# Usage (from the repository, after make build): scripts/stress-signals.sh
cd "$(dirname "$0")/../build/tests"
log=/dev/stdout
sh -c 'while :; do :; done' & b1=$!
sh -c 'while :; do :; done' & b2=$!
fail=0
for i in $(seq 50); do
  out=$(./test_mpi -tc="mpirun: Ctrl-C*" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then fail=$((fail+1)); echo "=== ctrl-c run $i rc=$rc" >> $log; echo "$out" | tail -30 >> $log; fi
done
echo "mpirun Ctrl-C test beside 2 busy loops: failed $fail of 50 ($(date))" >> $log
kill $b1 $b2
ALEXNET_SIGNAL_RUNS=50 ./test_signals -tce="mpirun*" > /tmp/signals-50.log 2>&1; echo "test_signals 50 runs (train, embed, classify, npy, eval): exit $? ($(date))" >> $log
ALEXNET_SIGNAL_RUNS=200 ./test_signals -tc="mpirun*" > /tmp/signals-mpirun-50.log 2>&1; echo "test_signals mpirun 50 runs: exit $? ($(date))" >> $log
