"""The bench of ntk_proofs: ``python -m benchmarks`` (``python -m experiments.bench`` is an alias). The harness
is ``benchmarks.harness``, one module per case in ``benchmarks.cases``; outputs go to ``benchmarks/results/``."""
