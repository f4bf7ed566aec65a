"""The parts of the bench (``python -m benchmarks``) that a short GPU lease allows, each written as soon as it
is measured.

    python -m benchmarks.gpu_parts OUT_DIR

Writes OUT_DIR/gpu_<part>.json for: the empirical NTK at n = 2000 with about 1M parameters and 10 outputs
(``benchmarks.cases.ntk``), the ``--paper`` sweep against its products (``benchmarks.cases.paper_profile``), one GD
step at (1000, 1000, 8192) and 16384 against the matmul limit and the diagnostics' overhead
(``benchmarks.cases.du_step``, side by side), and the Hessian methods (``benchmarks.cases.hessian``). The same
functions as the full bench; one JSON per part, so that a lease that ends early keeps what was finished.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(out: str) -> None:
    import jax

    from benchmarks.__main__ import DIAGNOSTIC_SETTINGS
    from benchmarks.cases.du_step import matmul_limit, problem, project_step
    from benchmarks.cases.hessian import hessian_methods
    from benchmarks.cases.ntk import ntk_memory
    from benchmarks.cases.paper_profile import paper_profile
    from benchmarks.harness import median_and_spread, median_ratio, side_by_side

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    meta = dict(device=str(device), device_kind=getattr(device, "device_kind", ""), jax=jax.__version__)

    def save(name, value, started):
        value = dict(meta, seconds=time.perf_counter() - started, result=value)
        (out / f"gpu_{name}.json").write_text(json.dumps(value, indent=1, default=float))
        print(f"{name}: {value['seconds']:.1f} s", flush=True)

    t = time.perf_counter()
    save("ntk", ntk_memory(2000, 1000), t)
    t = time.perf_counter()
    save("paper", paper_profile(), t)
    t = time.perf_counter()
    steps = {}
    for m in (8192, 16384):
        X, y, p = problem(1000, 1000, m)
        measurements = dict(
            kernel=project_step(X, y, p, (10, 30), step_form="kernel"),
            weights=project_step(X, y, p, (10, 30), step_form="weights"),
            matmul_limit=matmul_limit(X, p, (10, 30)),
        )
        if m == 8192:
            measurements.update(
                {
                    f"diag_{k}": project_step(X, y, p, (10, 30), **v)
                    for k, v in DIAGNOSTIC_SETTINGS.items()
                    if k in ("every_1", "every_10", "every_1_certified")
                }
            )
        rounds = side_by_side(measurements, 3)
        row = {k: median_and_spread(v)[0] for k, v in rounds.items()}
        row["ratios"] = {
            f"{a}/{b}": median_ratio(rounds, a, b)
            for a, b in [("kernel", "matmul_limit"), ("weights", "matmul_limit")]
            + [(k, "kernel") for k in rounds if k.startswith("diag_")]
        }
        steps[m] = row
    save("steps", steps, t)
    t = time.perf_counter()
    save("hessian", hessian_methods(), t)


if __name__ == "__main__":
    main(sys.argv[1])
