"""The parts of ``experiments.bench`` that a short GPU lease allows, each written as soon as it is measured.

    python benchmarks/gpu_parts.py OUT_DIR

Writes OUT_DIR/gpu_<part>.json for: the empirical NTK at n = 2000 with about 1M parameters and 10 outputs
(``bench.ntk_memory``), the ``--paper`` sweep against its products (``bench.paper_profile``), one GD step at
(1000, 1000, 8192) and 16384 against the matmul limit and the diagnostics' overhead (``bench.project_step``,
``bench.matmul_limit``, side by side), and the Hessian methods (``bench.hessian_methods``). The same functions as
the full benchmark, in the order of what the README's GPU column lacked; one JSON per part, so that a lease that
ends early keeps what was finished.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(out: str) -> None:
    import jax

    from experiments import bench

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    meta = dict(device=str(device), device_kind=getattr(device, "device_kind", ""), jax=jax.__version__)

    def save(name, value, started):
        value = dict(meta, seconds=time.perf_counter() - started, result=value)
        (out / f"gpu_{name}.json").write_text(json.dumps(value, indent=1, default=float))
        print(f"{name}: {value['seconds']:.1f} s", flush=True)

    t = time.perf_counter()
    save("ntk", bench.ntk_memory(2000, 1000), t)
    t = time.perf_counter()
    save("paper", bench.paper_profile(), t)
    t = time.perf_counter()
    steps = {}
    for m in (8192, 16384):
        X, y, p = bench.problem(1000, 1000, m)
        measurements = dict(kernel=bench.project_step(X, y, p, (10, 30), step_form="kernel"),
                            weights=bench.project_step(X, y, p, (10, 30), step_form="weights"),
                            matmul_limit=bench.matmul_limit(X, p, (10, 30)))
        if m == 8192:
            measurements.update({f"diag_{k}": bench.project_step(X, y, p, (10, 30), **v)
                                 for k, v in bench.DIAGNOSTIC_SETTINGS.items() if k in ("every_1", "every_10",
                                                                                         "every_1_certified")})
        rounds = bench.side_by_side(measurements, 3)
        row = {k: bench.median_and_spread(v)[0] for k, v in rounds.items()}
        row["ratios"] = {f"{a}/{b}": bench.median_ratio(rounds, a, b) for a, b in
                         [("kernel", "matmul_limit"), ("weights", "matmul_limit")]
                         + [(k, "kernel") for k in rounds if k.startswith("diag_")]}
        steps[m] = row
    save("steps", steps, t)
    t = time.perf_counter()
    save("hessian", bench.hessian_methods(), t)


if __name__ == "__main__":
    main(sys.argv[1])
