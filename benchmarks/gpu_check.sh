#!/usr/bin/env bash
# One GPU session: the --paper width sweep (timed), the benchmark, a few test files. Outputs under $OUT.
# Where the full bench does not fit its timeout, python -m benchmarks.gpu_parts measures its parts one JSON at a time.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $OUT/gpu.txt 2>&1
python3 -c "import jax; print(jax.__version__, jax.devices())" >> $OUT/gpu.txt 2>&1
t0=$(date +%s.%N)
timeout 120 python3 -m experiments.width_sweep --paper --out /tmp/ws > $OUT/paper.log 2>&1; echo "rc $?" >> $OUT/paper.log
t1=$(date +%s.%N); echo "paper_wall_s $(python3 -c "print($t1-$t0)")" >> $OUT/paper.log
t0=$(date +%s.%N)
timeout 120 python3 -m experiments.width_sweep --paper --out /tmp/ws --no-resume > $OUT/paper2.log 2>&1; echo "rc $?" >> $OUT/paper2.log
t1=$(date +%s.%N); echo "paper_wall_s_warm_cache $(python3 -c "print($t1-$t0)")" >> $OUT/paper2.log
cp /tmp/ws/width_sweep.json $OUT/ 2>/dev/null
timeout 300 python3 -m benchmarks --repeats 3 --out $OUT > $OUT/bench.log 2>&1; echo "rc $?" >> $OUT/bench.log
timeout 50 python3 -m pytest -q -p no:cacheprovider -n 0 tests/test_gd.py tests/test_gram.py tests/test_two_layer.py > $OUT/tests.log 2>&1; echo "rc $?" >> $OUT/tests.log
for f in $OUT/*.log; do tail -n 5 "$f"; done
