"""On the command line, a run that stops on a broken assumption or a bad input prints one line naming it and exits
with status 2, without a traceback; ``--debug`` shows the traceback (``experiments.cli.run_main``)."""

import os
import subprocess
import sys

import pytest

from ntk_proofs.data import AssumptionError

CASES = {
    "width_sweep": ["--quick", "--d", "1"],  # d = 1: the points are +-1, parallel, lambda_0 = 0
    "critical_width": ["--quick", "--families", "npz", "--npz", "no_such_file.npz"],
    "fine_grained": ["--quick", "--npz", "no_such_file.npz"],
}


def _run(name, flags, tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", f"experiments.{name}", *flags, "--out", str(tmp_path)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=600)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_broken_assumption_is_one_line_and_status_2(name, tmp_path):
    done = _run(name, CASES[name], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    # a usage error (argparse's own, checked before anything runs) or a stop on an assumption (run_main's)
    assert lines[0].startswith(f"python -m experiments.{name}: error:") or "--debug" in lines[0], lines


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
