"""The yardstick of the test suite's time: one (1000 x 1000) @ (1000 x 8192) float32 product, jitted.

    python benchmarks/product_time.py      # prints its median over 7 calls after a warm-up, in ms

Run it just before and just after `python -m pytest -q`: the suite's goal is at most 3000 times this time, on
machines that differ up to 3x in speed.
"""

import time

import jax
import numpy as np


def main() -> float:
    A = jax.random.normal(jax.random.PRNGKey(0), (1000, 1000), np.float32)
    B = jax.random.normal(jax.random.PRNGKey(1), (1000, 8192), np.float32)
    product = jax.jit(lambda a, b: a @ b)
    jax.block_until_ready(product(A, B))
    times = []
    for _ in range(7):
        t = time.perf_counter()
        jax.block_until_ready(product(A, B))
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


if __name__ == "__main__":
    print(f"product_ms {main():.1f}")
