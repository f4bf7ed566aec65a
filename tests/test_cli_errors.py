"""On the command line, a run that stops on a broken assumption or a bad input prints one line naming it and exits
with status 2, without a traceback; ``--debug`` shows the traceback (``experiments.cli.run_main``)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from ntk_proofs.data import AssumptionError

CASES = {
    "width_sweep": ["--quick", "--d", "1"],  # d = 1: the points are +-1, parallel, lambda_0 = 0
    "width_sweep_step": ["--quick", "--eta", "1e6"],  # past the stable step: GD diverges at step 1
    "critical_width": ["--quick", "--families", "npz", "--npz", "no_such_file.npz"],
    "critical_width_step": ["--quick", "--eta", "1e6"],  # eta lambda_0 / 2 > 1
    "fine_grained": ["--quick", "--npz", "no_such_file.npz"],
    "fine_grained_key": ["--quick", "--npz", "NO_Y_NPZ"],  # an .npz without its 'y' array
    "regimes": ["--quick", "--d", "1"],  # parallel inputs: lambda_0 = 0
    "linearization": ["--quick", "--eta", "1e6"],  # GD diverges
    "landscape": ["--quick", "--grid", "2"],  # a surface needs 3 points per axis
    "hessian": ["--quick", "--eta", "1e6"],  # GD diverges
    "deep_training": ["--quick", "--study", "init", "--depth", "0"],  # no hidden layer
}
# the message names what to change
NAMES = {
    "width_sweep": "parallel",
    "width_sweep_step": "step",
    "critical_width": "no_such_file.npz",
    "critical_width_step": "eta",
    "fine_grained": "no_such_file.npz",
    "fine_grained_key": "'y'",
    "regimes": "parallel",
    "linearization": "step size",
    "landscape": "--grid",
    "hessian": "step size",
    "deep_training": "positive",
}


def _run(name, flags, tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if "NO_Y_NPZ" in flags:
        np.savez(tmp_path / "no_y.npz", x=np.ones((20, 5)))
        flags = [str(tmp_path / "no_y.npz") if f == "NO_Y_NPZ" else f for f in flags]
    cmd = [sys.executable, "-m", f"experiments.{name}", *flags, "--out", str(tmp_path)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=600)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_assumption_is_one_line_and_status_2(case, tmp_path):
    """Every experiment, on an input that breaks an assumption (parallel inputs, a step past the stable range, a
    missing file or .npz key) or a bad flag: exit status 2, one line that names what to change, no traceback."""
    name = case.removesuffix("_step").removesuffix("_key")
    done = _run(name, CASES[case], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    # a usage error (argparse's own, checked before anything runs) or a stop on an assumption (run_main's)
    assert lines[0].startswith(f"python -m experiments.{name}: error:") or "--debug" in lines[0], lines
    assert NAMES[case] in lines[0], lines


def test_debug_shows_the_traceback(tmp_path):
    done = _run("width_sweep", [*CASES["width_sweep"], "--debug"], tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr and "AssumptionError" in done.stderr


def test_run_main_exits_2_on_user_errors_and_lets_bugs_through(capsys):
    from experiments.cli import run_main

    def broken(argv):
        raise AssumptionError("lambda_0 is 0: the inputs are parallel; pass inputs that are not")

    with pytest.raises(SystemExit) as exit_:
        run_main(broken, [])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: lambda_0 is 0")
    with pytest.raises(AssumptionError):
        run_main(broken, ["--debug"])

    def bug(argv):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        run_main(bug, [])
