"""The "Write your own study" page (docs/write_your_own_study.md) runs as printed and prints what it shows.

The page's first ```python block is executed once in a fresh namespace (float64 is on, as everywhere in the tests:
tests/conftest.py); its stdout must equal, character for character, the ```text block pasted below it. The code
prints rounded numbers (4 significant digits, 3 for the kernel change), so exact text is the comparison: a stale
paste, or a library change that moves a printed digit, fails. Then properties the printout cannot show: the
recorded Gram-matrix eigenvalues equal an independent K = J J^T from ``jax.jacobian`` of the net's outputs, at
init and at the end; the recorded residual is the loss's own forward pass; the loss fell; the large step diverged
where ``diverged_step`` says.
"""

import contextlib
import io
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_proofs import gd
from tests.tolerances import F64, RTOL_F64

PAGE = Path(__file__).resolve().parent.parent / "docs" / "write_your_own_study.md"
MAX_LINES = 60


def _blocks() -> tuple[str, str]:
    """(the first ```python block, the first ```text block after it) of the page."""
    text = PAGE.read_text()
    code = re.search(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert code, "the page has no ```python block"
    output = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE).search(text, code.end())
    assert output, "the page has no ```text block (the pasted output) after its ```python block"
    return code.group(1), output.group(1)


@pytest.fixture(scope="module")
def study():
    """The namespace the page's code leaves behind, and what it printed."""
    code, _ = _blocks()
    assert jax.config.jax_enable_x64  # tests/conftest.py
    namespace = {"__name__": "write_your_own_study"}
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code, run as a reader would
    return namespace, stdout.getvalue()


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def test_code_block_is_at_most_60_lines():
    code, _ = _blocks()
    assert len(code.splitlines()) <= MAX_LINES


def test_printed_output_equals_the_output_pasted_in_the_page(study):
    _, printed = study
    _, pasted = _blocks()
    assert _lines(printed) == _lines(pasted), "docs/write_your_own_study.md: the pasted output is stale:\n" + printed


def _gram(f, params, X):
    """K = J J^T from the full Jacobian of the outputs (n,) with respect to every parameter (P,): (n, n)."""
    jac = jax.jacobian(lambda p: f(p, X))(params)
    J = jnp.concatenate([leaf.reshape(X.shape[0], -1) for leaf in jax.tree.leaves(jac)], axis=1)
    return J @ J.T


def test_recorded_gram_eigenvalues_equal_an_independent_jacobian_at_init_and_at_the_end(study):
    ns, _ = study
    result, net, X, params0 = ns["result"], ns["net"], ns["X"], ns["params0"]
    records = {k: np.asarray(v) for k, v in result.records.items()}
    assert list(result.record_steps) == [0, 20, 40, 60, 80, 100]
    K0, KT = _gram(net.apply, params0, X), _gram(net.apply, result.params, X)  # the last record: final params
    lam0, lamT = np.linalg.eigvalsh(np.asarray(K0)), np.linalg.eigvalsh(np.asarray(KT))
    # float64 round-off: K is a sum over ~17k parameters of O(1) products (relative error far below RTOL_F64), and
    # an eigenvalue moves by at most eps ||K|| (Weyl), so F64 * lambda_max bounds the absolute error.
    for recorded, exact in (
        (records["lambda_min"][0], lam0[0]),
        (records["lambda_max"][0], lam0[-1]),
        (records["lambda_min"][-1], lamT[0]),
        (records["lambda_max"][-1], lamT[-1]),
    ):
        np.testing.assert_allclose(recorded, exact, rtol=RTOL_F64, atol=F64 * lamT[-1])
    change = np.linalg.norm(np.asarray(KT - K0)) / np.linalg.norm(np.asarray(K0))
    np.testing.assert_allclose(records["change"][-1], change, rtol=RTOL_F64, atol=F64)
    assert records["change"][0] == 0.0  # K(0) against itself
    assert lam0[0] > 0  # distinct unit-sphere inputs: the Gram matrix is positive definite at init
    # The step is 1 / lambda_max(K(0)) of the independent kernel.
    np.testing.assert_allclose(ns["eta"], 1.0 / lam0[-1], rtol=RTOL_F64, atol=0)


def test_the_recorder_saw_each_steps_own_forward_pass_and_the_loss_fell(study):
    ns, _ = study
    result = ns["result"]
    loss = np.asarray(result.loss)
    residual = np.asarray(result.records["residual"])
    # aux is the residual of the very forward pass whose loss the driver kept at that step.
    np.testing.assert_allclose(0.5 * residual**2, loss[result.record_steps], rtol=RTOL_F64, atol=F64)
    # The page's objective is the suite's SquaredError with an aux: the same loss.
    value, _ = gd.SquaredError(ns["net"].apply).value(ns["params0"], ns["data"])
    np.testing.assert_allclose(loss[0], float(value), rtol=RTOL_F64, atol=F64)
    assert result.diverged_step == -1 and np.all(np.isfinite(loss))
    assert loss.shape == (101,)
    assert loss[-1] < 1e-2 * loss[0]  # measured: 15.5 -> 0.0242, a factor 640
    assert np.all(np.diff(loss) < 0)  # eta = 1 / lambda_max(K(0)) < 2 / lambda_max: every step descends


def test_the_large_step_diverged_at_the_reported_step(study):
    ns, _ = study
    big = ns["big"]
    loss = np.asarray(big.loss)
    k = big.diverged_step
    threshold = 1e3 * loss[0]  # the page's divergence_factor
    assert k >= 1
    assert not (np.isfinite(loss[k]) and loss[k] <= threshold)  # step k is past the threshold ...
    assert np.all(np.isfinite(loss[:k])) and np.all(loss[:k] <= threshold)  # ... and no step before it
