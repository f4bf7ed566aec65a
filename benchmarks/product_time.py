"""The yardstick of the test suite's time: one (1000 x 1000) @ (1000 x 8192) float32 product, jitted.

    python -m benchmarks.product_time      # prints its median over 7 calls after a warm-up, in ms

Run it just before and just after `python -m pytest -q`: the suite's goal is at most 3000 times this time, on
machines that differ up to 3x in speed.
"""

import jax
import numpy as np

from benchmarks.harness import median_and_spread, side_by_side, wall


def main() -> float:
    A = jax.random.normal(jax.random.PRNGKey(0), (1000, 1000), np.float32)
    B = jax.random.normal(jax.random.PRNGKey(1), (1000, 8192), np.float32)
    product = jax.jit(lambda a, b: a @ b)
    rounds = side_by_side({"product": wall(lambda: jax.block_until_ready(product(A, B)))}, 7)
    return median_and_spread(rounds["product"])[0] * 1e3


if __name__ == "__main__":
    print(f"product_ms {main():.1f}")
