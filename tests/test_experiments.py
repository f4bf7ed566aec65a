"""Smoke tests: each experiment's main runs with tiny flags and writes what it promises."""

import json
from typing import NamedTuple

import numpy as np
import pytest

from experiments import width_sweep
from experiments.all import EXPERIMENTS as ALL_EXPERIMENTS

TINY = ["--n", "8", "--d", "5", "--widths", "8", "64", "--steps", "6", "--seeds", "2", "--no-own-step"]


@pytest.mark.slow
def test_width_sweep_writes_figure_json_and_resumes(tmp_path, capsys):
    out = tmp_path / "figs"
    summary = width_sweep.main(TINY + ["--out", str(out)])
    for suffix in ("png", "pdf", "json"):
        assert (out / f"width_sweep.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "width_sweep.json").read_text())
    assert saved["config"]["widths"] == [8, 64] and saved["config"]["n"] == 8
    assert len(saved["units"]) == 4 and len(saved["units"][0]["loss"]) == 7
    assert {"max_drift", "flip_fraction"} <= set(saved["fits"])
    for w in saved["per_width"]:
        assert set(w["monitor"]) == {"loss_envelope", "lambda_min_floor", "drift_radius"}
    assert len(list((out / "width_sweep_runs").glob("*.json"))) == 4
    printed = capsys.readouterr().out
    assert "fitted slope of max drift vs m" in printed and "L<=envelope" in printed

    again = width_sweep.main(TINY + ["--out", str(out)])
    assert again.reused_units == 4
    assert again.units == summary.units  # same config, same numbers

    changed = width_sweep.main(TINY + ["--out", str(out), "--steps", "7"])
    assert changed.reused_units == 0 and len(changed.units[0].loss) == 8


def test_the_own_step_runs_are_units_saved_resumed_and_kept_apart(tmp_path, monkeypatch):
    """Theorem 4.1 at its own step runs as units of the sweep (``kind`` "own_step"): saved in the run store,
    reused on a rerun, and split from the width units in the summary. Shortened here (n = 8, 300 steps)."""
    import ntk_proofs as nt

    monkeypatch.setattr(width_sweep, "OWN_STEP_NS", (8,))
    monkeypatch.setattr(width_sweep, "OWN_STEP_STEPS", {8: 300})
    monkeypatch.setattr(width_sweep, "OWN_STEP_WIDTH", 64)
    args = [*TINY[:-1], "--seeds", "1", "--own-step", "--out", str(tmp_path)]
    summary = width_sweep.main(args)
    assert [(r.kind, r.n, r.seed, r.steps) for r in summary.own_step] == [("own_step", 8, 0, 300)]
    assert {u.kind for u in summary.units} == {"width"} and len(summary.units) == 2
    assert (tmp_path / "width_sweep_runs" / "own_step_n8_seed0.json").exists()
    run = summary.own_step[0]
    assert run.monitor._fields == tuple(key for key, _ in nt.MONITOR_CHECKS)
    assert run.eta == pytest.approx(nt.max_step_size(8, run.lambda0), rel=1e-12, abs=0.0)
    assert width_sweep.main(args).reused_units == 3  # two widths and the own-step run


def test_the_figure_labels_the_monitors_checks():
    """The figure's (C1)-(C3) labels name the same checks as the monitor (one list, ``MONITOR_CHECKS``)."""
    import ntk_proofs as nt
    from experiments.plotting.width_sweep import CHECK_LABELS

    assert list(CHECK_LABELS) == [key for key, _ in nt.MONITOR_CHECKS] == list(nt.TheoremMonitor._fields)


def test_width_sweep_help_and_flag_errors(capsys):
    with pytest.raises(SystemExit) as info:
        width_sweep.parse_args(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--n", "--d", "--widths", "--eta", "--steps", "--seed", "--seeds", "--out", "--paper"):
        assert flag in text
    for bad in (["--n", "0"], ["--eta", "-1"], ["--eta", "fast"], ["--widths", "0"], ["--delta", "2"]):
        with pytest.raises(SystemExit) as info:
            width_sweep.parse_args(bad)
        assert info.value.code == 2


def test_paper_preset_and_explicit_flags():
    c = width_sweep.parse_args(["--paper"])
    assert (c.n, c.d, c.steps) == (1000, 1000, 100) and max(c.widths) >= 10000
    assert width_sweep.parse_args(["--paper", "--n", "50"]).n == 50


@pytest.mark.slow
def test_fine_grained_writes_figure_and_json(tmp_path, capsys):
    from experiments import fine_grained

    out = tmp_path / "fg"
    fine_grained.main(
        [
            "--n-train",
            "30",
            "--n-test",
            "20",
            "--widths",
            "16",
            "64",
            "--p-grid",
            "0",
            "1",
            "--p-width",
            "16",
            "--steps",
            "5",
            "--seeds",
            "1",
            "--out",
            str(out),
        ]
    )
    for suffix in ("png", "pdf", "json"):
        assert (out / f"fine_grained.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "fine_grained.json").read_text())
    assert [r["p"] for r in saved["corruption"]] == [0.0, 1.0]
    assert len(saved["label_runs"]["true"][0]["residual"]) == 6
    assert saved["spectra"]["random"]["bound"] > 0
    assert "bound sqrt(2 y^T H^-1 y / n)" in capsys.readouterr().out
    assert (
        fine_grained.main(
            [
                "--n-train",
                "30",
                "--n-test",
                "20",
                "--widths",
                "16",
                "64",
                "--p-grid",
                "0",
                "1",
                "--p-width",
                "16",
                "--steps",
                "5",
                "--seeds",
                "1",
                "--out",
                str(out),
            ]
        ).reused_units
        == 6
    )
    with pytest.raises(SystemExit):
        fine_grained.parse_args(["--p-grid", "1.5"])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "du"])
def test_linearization_writes_figure_and_json(tmp_path, model):
    from experiments import linearization

    out = tmp_path / model
    summary = linearization.main(
        [
            "--model",
            model,
            "--depth",
            "2",
            "--widths",
            "8",
            "32",
            "128",
            "--n-train",
            "12",
            "--n-test",
            "6",
            "--steps",
            "4",
            "--kernel-points",
            "4",
            "--seeds",
            "1",
            "--out",
            str(out),
        ]
    )
    for suffix in ("png", "pdf", "json"):
        assert (out / f"linearization.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "linearization.json").read_text())
    assert [r["m"] for r in saved["runs"]] == [8, 32, 128]
    assert len(saved["runs"][0]["loss_net"]) == 5 and saved["fits"]["kernel_change"]["points"] == 3
    # the linearized model and the closed form agree in every run (float64 under the test config)
    assert max(max(r["gap_lin_closed"]) for r in saved["runs"]) < 1e-8
    assert summary.reused_units == 0


def test_the_init_key_of_seed_0_is_the_single_seed_key():
    """--seeds in fine_grained and linearization: seed 0 keeps the key of the single initialization per width,
    seed s >= 1 folds s into it."""
    import jax

    from experiments import fine_grained, linearization

    k = jax.random.PRNGKey(3)
    for module in (fine_grained, linearization):
        base = jax.random.fold_in(k, 64)
        assert np.array_equal(module.init_key(k, 64, 0), base)
        assert np.array_equal(module.init_key(k, 64, 2), jax.random.fold_in(base, 2))
        with pytest.raises(SystemExit):
            module.parse_args(["--seeds", "0"])


@pytest.mark.slow
def test_fine_grained_seeds_give_a_unit_per_width_and_seed_and_seed_0_is_the_single_seed_run(tmp_path):
    from experiments import fine_grained

    single = fine_grained.main(["--quick", "--out", str(tmp_path)])
    assert [(r.m, r.seed) for r in single.label_runs.true] == [(16, 0), (64, 0)]

    two = fine_grained.main(["--quick", "--seeds", "2", "--out", str(tmp_path)])
    for runs in two.label_runs:
        assert [(r.m, r.seed) for r in runs] == [(16, 0), (16, 1), (64, 0), (64, 1)]
    # seed 0 keeps its unit name and config: read back, the numbers of the single-seed run
    assert two.reused_units == 2 * 2 + 2  # the seed-0 label runs and the two corruption runs
    assert [r for r in two.label_runs.true if r.seed == 0] == single.label_runs.true
    assert [r for r in two.label_runs.random if r.seed == 0] == single.label_runs.random
    assert two.label_runs.true[1].residual != two.label_runs.true[0].residual  # another initialization
    names = {p.stem for p in (tmp_path / "fine_grained_runs").glob("*.json")}
    assert {"true_m16", "true_m16_s1", "random_m64", "random_m64_s1"} <= names
    assert two.gap_fit.true.points == 4

    fresh = fine_grained.main(["--quick", "--seeds", "2", "--no-resume", "--out", str(tmp_path / "fresh")])
    assert fresh.label_runs == two.label_runs  # seed 0 computed again: the same numbers

    rows = fine_grained.claims(two, "cmd")
    assert "2 widths x 2 seeds" in rows[1].statement and "2 seeds" in rows[0].statement


@pytest.mark.slow
def test_linearization_seeds_give_a_unit_per_width_and_seed_and_seed_0_is_the_single_seed_run(tmp_path):
    from experiments import linearization

    single = linearization.main(["--quick", "--out", str(tmp_path)])
    assert [(r.m, r.seed) for r in single.runs] == [(8, 0), (32, 0), (128, 0)]

    two = linearization.main(["--quick", "--seeds", "2", "--out", str(tmp_path)])
    assert [(r.m, r.seed) for r in two.runs] == [(8, 0), (8, 1), (32, 0), (32, 1), (128, 0), (128, 1)]
    # seed 0 keeps its unit name and config: read back, the numbers of the single-seed run
    assert two.reused_units == 3
    assert [r for r in two.runs if r.seed == 0] == single.runs
    assert two.runs[1].max_gap_net_lin != two.runs[0].max_gap_net_lin  # another initialization
    names = {p.stem for p in (tmp_path / "linearization_runs").glob("*.json")}
    assert names == {"m8", "m8_s1", "m32", "m32_s1", "m128", "m128_s1"}
    assert two.fits.max_gap_net_lin.points == two.fits.kernel_change.points == 6

    fresh = linearization.main(["--quick", "--seeds", "2", "--no-resume", "--out", str(tmp_path / "fresh")])
    assert fresh.runs == two.runs  # seed 0 computed again: the same numbers

    assert all("(3 widths x 2 seeds)" in row.statement for row in linearization.claims(two, "cmd"))


@pytest.mark.slow
def test_hessian_experiment_writes_figure_and_json(tmp_path):
    from experiments import hessian

    out = tmp_path / "h"
    summary = hessian.main(
        [
            "--width",
            "8",
            "--n-train",
            "40",
            "--steps",
            "20",
            "--checkpoints",
            "2",
            "--probes",
            "2",
            "--lanczos-steps",
            "10",
            "--starts",
            "3",
            "--escape-steps",
            "10",
            "--out",
            str(out),
        ]
    )
    for suffix in ("png", "pdf", "json"):
        assert (out / f"hessian.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "hessian.json").read_text())
    assert len(saved["training"]["records"]) == 3 and set(saved["training"]["densities"]) == {
        "init",
        "mid-training",
        "end",
    }
    assert set(saved["escape"]["runs"]) == {"gd", "perturbed_gd", "saddle_free_newton"}
    assert abs(saved["agreement"]["top_dense"][0] - saved["agreement"]["top_lanczos"][0]) < 1e-8
    assert summary.escape.saddle_spectrum[0] < 0 < summary.escape.saddle_spectrum[-1]


@pytest.mark.slow
def test_landscape_experiment_writes_figure_and_json(tmp_path):
    from experiments import landscape

    out = tmp_path / "l"
    summary = landscape.main(
        [
            "--width",
            "8",
            "--depths",
            "1",
            "3",
            "--n-train",
            "60",
            "--train-steps",
            "20",
            "--grid",
            "5",
            "--bezier-steps",
            "20",
            "--grid-points",
            "41",
            "--out",
            str(out),
        ]
    )
    for suffix in ("png", "pdf", "json"):
        assert (out / f"landscape.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "landscape.json").read_text())
    found = {r["example"].split(",")[0]: r["certificate"] is not None for r in saved["certificates"]}
    assert (
        found["convex control: linear least squares"] is False and found["convex control: logistic regression"] is False
    )
    assert found["sigmoid MLP 784-100-1"] and found["deep linear 2-3-1 (identity activations)"]
    assert len(saved["surfaces"]) == 4 and np.asarray(saved["surfaces"][0]["loss"]).shape == (5, 5)
    # the barrier is the largest excess of the saved line losses over the chord of their endpoints
    mc = saved["mode_connectivity"]
    ts, line = np.asarray(mc["ts"]), np.asarray(mc["line"])
    chord = (1 - ts) * line[0] + ts * line[-1]
    assert summary.mode_connectivity.line_barrier == pytest.approx(np.max(line - chord), rel=1e-12, abs=1e-15)


@pytest.mark.slow
def test_deep_training_experiment_writes_each_study(tmp_path):
    from experiments import deep_training

    out = tmp_path / "dyn"
    summaries = deep_training.main(["--quick", "--out", str(out)])
    assert all(isinstance(part, tuple) for part in summaries) and summaries.init.result.depth == 6
    assert deep_training.claims(summaries, "cmd")  # rows for figures/CLAIMS.md
    for study in ("init", "skip", "norm", "optim", "eos", "lottery"):
        for suffix in ("png", "pdf", "json"):
            assert (out / f"deep_training_{study}.{suffix}").stat().st_size > 1000
    saved = json.loads((out / "deep_training_init.json").read_text())
    assert len(saved["result"]["rows"]) == 4 and len(saved["result"]["rows"][0]["forward"]) == 6
    norm = json.loads((out / "deep_training_norm.json").read_text())
    assert (norm["config"]["norm_points"], norm["config"]["stable_steps"]) == (100, 20)
    assert norm["result"]["eta"] == pytest.approx(0.05 / 100)  # the study ran on the preset's 100 points
    assert saved["git_commit"] is None or len(saved["git_commit"]) == 40


def test_deep_training_flag_errors():
    from experiments import deep_training

    for bad in (
        ["--norm-points", "601"],
        ["--norm-points", "0"],
        ["--stable-steps", "0"],
        ["--stable-iterations", "0"],
        ["--eos-eta", "-1"],
        ["--skip-depths", "0"],
    ):
        with pytest.raises(SystemExit) as info:
            deep_training.parse_args(bad)
        assert info.value.code == 2, bad
    assert deep_training.parse_args(["--norm-points", "600"]).norm_points == 600


def test_dynamics_alias_says_where_the_experiment_moved(tmp_path, capsys):
    from experiments import dynamics

    out = tmp_path / "alias"
    dynamics.main(["--study", "init", "--quick", "--out", str(out)])
    assert "moved to experiments.deep_training" in capsys.readouterr().err
    assert (out / "deep_training_init.json").exists()


@pytest.mark.slow
def test_all_runs_every_quick_preset_and_writes_the_claims_table(tmp_path):
    from experiments import all as run_all
    from ntk_proofs.claims import Claim, claims_table

    rows = run_all.main(["--quick", "--out", str(tmp_path), "--only", "width_sweep"])
    text = (tmp_path / "CLAIMS.md").read_text()
    assert "| paper | claim | measured |" in text and "python -m experiments.width_sweep --quick" in text
    # rebuilt from the saved JSON alone, the table is the same
    again = run_all.main(["--quick", "--out", str(tmp_path), "--only", "width_sweep", "--claims-only"])
    assert claims_table(again) == claims_table(rows)
    assert len(rows) == 8 and all(
        isinstance(r, Claim) and r.verdict in ("held", "not held", "inconclusive") for r in rows
    )


@pytest.mark.slow
def test_critical_width_runs_end_to_end_on_a_users_npz_and_resumes(tmp_path, capsys):
    from experiments import critical_width

    rng = np.random.default_rng(0)
    data = tmp_path / "mine.npz"
    np.savez(data, x=rng.standard_normal((40, 5)), y=rng.integers(0, 2, 40))
    flags = [
        "--quick",
        "--families",
        "sphere",
        "npz",
        "--npz",
        str(data),
        "--ns",
        "6",
        "9",
        "--criteria",
        "init",
        "linear",
        "--m-max",
        "32",
        "--grid",
        "2",
        "--out",
        str(tmp_path / "cw"),
    ]
    summary = critical_width.main(flags)
    for suffix in ("png", "pdf", "json"):
        assert (tmp_path / "cw" / f"critical_width.{suffix}").stat().st_size > 1000
    saved = json.loads((tmp_path / "cw" / "critical_width.json").read_text())
    assert set(saved["families"]) == {"sphere", "npz"} and len(saved["units"]) == 8  # 2 sizes x 2 data sets
    for family in saved["families"].values():
        assert set(family["criteria"]) == {"init", "linear"} and len(family["lambda0"]) == 4
        assert set(family["published"]) >= {"du2019", "oymak2020", "counting"}
        for entry in family["criteria"].values():
            assert len(entry["m_star"]) == len(entry["censored"]) == len(entry["logistic_m_star"]) == 4
            assert set(entry["exponent"]) >= {"slope", "ci_low", "ci_high", "datasets_per_group"}
    assert set(saved["law"]) == {"init", "linear"}
    for unit in saved["units"]:
        for c in unit["criteria"].values():
            assert c["m_star"] is None or c["m_star"] in c["widths"]
            assert c["censored"] in ("", "below", "above")
            assert len(c["bootstrap"]) == 200 and len(c["holds"]) == len(c["widths"])
    out = capsys.readouterr().out
    assert "p in m* ~ n^p" in out and "Your data (--npz)" in out and "published widths" in out
    again = critical_width.main(flags)
    assert again.reused_units == 8 and again.units == summary.units
    assert critical_width.claims(again, "cmd")  # rows for figures/CLAIMS.md


def test_a_unit_is_reused_only_where_its_searches_would_start_where_they_started(tmp_path):
    """A unit's searches start from the m* of the same data set's next smaller n, and that start is part of the
    unit's stored config: where the smaller unit's stored m* changed, the larger unit is computed again (so a
    resumed run equals a fresh one); where nothing changed, every unit is read back."""
    from experiments import critical_width

    out = tmp_path / "cw"
    flags = ["--quick", "--families", "sphere", "--ns", "6", "8", "--datasets", "1", "--criteria", "init"]
    flags += ["--m-max", "32", "--out", str(out)]
    first = critical_width.main(flags)
    assert critical_width.main(flags).reused_units == 2
    path = out / "critical_width_runs" / "sphere_n6_set0.json"
    stored = json.loads(path.read_text())
    assert stored["config"]["start"] == {}
    larger = json.loads((out / "critical_width_runs" / "sphere_n8_set0.json").read_text())
    m6 = first.units[0].criteria["init"].m_star
    assert larger["config"]["start"] == {"init": max(1, int(m6 * 8 / 6))}
    other = max(stored["result"]["criteria"]["init"]["widths"])  # the confirmation width 2 m*, or beyond
    assert other > m6
    stored["result"]["criteria"]["init"]["m_star"] = other  # as if n = 6 had found another m*
    path.write_text(json.dumps(stored))
    again = critical_width.main(flags)
    assert again.reused_units == 1  # n = 6 read back (its config is unchanged), n = 8 computed again
    larger = json.loads((out / "critical_width_runs" / "sphere_n8_set0.json").read_text())
    assert larger["config"]["start"] == {"init": int(other * 8 / 6)}


def test_a_unit_stored_under_another_max_seeds_is_reused_exactly_where_it_would_be_computed_the_same():
    """``same_under_max_seeds`` against recomputation: one unit (sphere, n = 8, whose "init" search pools three blocks
    of 8 initializations and "concentration" two) computed under every --max-seeds of 8, 16, 24, 32; for every
    ordered pair, the unit stored under the first is declared the unit of the second exactly where recomputing under
    the second gives the same outcomes and m*. A change of any other setting is never equivalent."""
    from experiments import critical_width
    from experiments.store import to_jsonable

    caps = (8, 16, 24, 32)
    units = {}
    for cap in caps:
        config = critical_width.parse_args(
            ["--quick", "--families", "sphere", "--ns", "8", "--criteria", "init", "concentration"]
            + ["--m-max", "4096", "--max-seeds", str(cap)]
        )
        unit = critical_width.run_unit(config, "sphere", 8, 3, {}, ("init", "concentration"))
        units[cap] = json.loads(json.dumps(to_jsonable(unit)))
    assert [len(units[32]["criteria"][c]["holds"][0]) for c in ("init", "concentration")] == [24, 16]

    def config(cap):
        return {"seeds": 8, "max_seeds": cap, "m_max": 4096}

    def same(a, b):
        return all(
            a["criteria"][c]["holds"] == b["criteria"][c]["holds"]
            and a["criteria"][c]["m_star"] == b["criteria"][c]["m_star"]
            for c in a["criteria"]
        )

    verdicts = []
    for stored in caps:
        for wanted in caps:
            claim = critical_width.same_under_max_seeds(config(stored), config(wanted), units[stored])
            assert claim == same(units[stored], units[wanted]), (stored, wanted)
            verdicts.append(claim)
    assert any(verdicts) and not all(verdicts)
    assert not critical_width.same_under_max_seeds(config(32), dict(config(32), m_max=2048), units[32])


def test_a_flow_check_unit_that_finished_under_a_smaller_solver_limit_is_reused_under_a_larger_one():
    """The flow solver's step limit only stops a solve: a unit stored under the default limit (no key) or a smaller
    one is the unit a larger limit computes; not the other way round, and not where anything else differs."""
    from experiments.critical_width_flow import SOLVER_STEPS
    from experiments.critical_width_flow import finished_under_fewer_solver_steps as same

    base = {"family": "sphere", "n": 8, "rtol": 1e-5}
    more = dict(base, solver_steps=10 * SOLVER_STEPS)
    assert same(base, more, {}) and same(more, more, {}) and same(base, base, {})
    assert not same(more, base, {})
    assert not same(base, dict(more, rtol=1e-6), {})
    assert not same(dict(base, solver_steps=SOLVER_STEPS // 2), dict(base, solver_steps=SOLVER_STEPS // 4), {})


def test_critical_width_runs_each_criterion_up_to_its_size_and_gradient_flow_checks_the_small_step(tmp_path, capsys):
    """--train-max-n and --flow-max-n: a unit above them reports those criteria as 'not run' and the fits leave it
    out; experiments.critical_width_flow then integrates the flow from the small-step runs' own initializations at
    each bracket width, and resumes."""
    from experiments import critical_width, critical_width_flow

    out = tmp_path / "cw"
    flags = ["--quick", "--families", "sphere", "--ns", "6", "8", "10", "--datasets", "1", "--m-max", "32"]
    flags += ["--criteria", "init", "linear", "linear_flow", "--train-max-n", "8", "--flow-max-n", "6"]
    summary = critical_width.main([*flags, "--out", str(out)])
    ran = {u.n: set(u.criteria) for u in summary.units}
    assert ran == {6: {"init", "linear", "linear_flow"}, 8: {"init", "linear"}, 10: {"init"}}
    family = summary.families["sphere"]
    assert family.criteria["linear"].censored[2] == family.criteria["linear_flow"].censored[1] == "not run"
    assert family.criteria["linear_flow"].m_star[1:] == [None, None]
    for crit, units in (("init", 3), ("linear", 2), ("linear_flow", 1)):
        fit = family.criteria[crit].exponent
        assert fit.points + fit.censored_units == units, (crit, fit)
    assert summary.law["linear"].points + summary.law["linear"].censored_units == 2
    assert "-" in capsys.readouterr().out  # a 'not run' cell
    full = critical_width.parse_args(["--full"])
    order = critical_width.unit_order(full)
    sizes = {f: sorted({n for g, _, n in order if g == f}) for f in full.families}
    assert sizes["sphere_fixed_d"] == [8, 16, 32] and sizes["sphere"] == [8, 16, 32, 64, 128, 256, 512]
    assert len(order) == 10 * 7 + 5 * (2 * 7 + 3)  # 10 data sets on the sphere with d = n, 5 on the others
    assert {k for f, k, _ in order if f == "sphere"} == set(range(10))
    assert {k for f, k, _ in order if f == "sphere_quarter_d"} == set(range(5))
    assert len(critical_width.unit_order(critical_width.parse_args(["--full", "--family-datasets"]))) == 5 * (3 * 7 + 3)
    for bad in ("sphere=0", "sphere", "torus=3", "digits=x"):
        with pytest.raises(SystemExit):
            critical_width.parse_args(["--family-datasets", bad])
    assert critical_width.unit_criteria(full, "sphere", 256) == ("init", "concentration", "trajectory", "linear")
    assert critical_width.unit_criteria(full, "sphere_quarter_d", 512) == ("init", "concentration")
    assert critical_width.unit_criteria(full, "sphere", 32) == full.criteria
    assert critical_width.unit_criteria(full, "sphere_quarter_d", 32) == (
        "init",
        "concentration",
        "trajectory",
        "linear",
    )
    # the digits' run-based criteria stop at --data-train-max-n = 128
    assert critical_width.unit_criteria(full, "digits", 128) == ("init", "concentration", "trajectory", "linear")
    assert critical_width.unit_criteria(full, "digits", 256) == ("init", "concentration")
    check_flags = ["--source", str(out / "critical_width.json"), "--max-n", "8", "--out", str(tmp_path / "fc")]
    check = critical_width_flow.main(check_flags)
    (unit,) = check.units  # n = 6 alone ran the small-step criterion
    widths = unit.widths["linear_flow"]
    assert unit.n == 6 and [w.m for w in widths] == [m for m in summary.units[0].criteria["linear_flow"].bracket if m]
    pooled = len(summary.units[0].criteria["linear_flow"].holds[0])  # --quick: 8 initializations, or 16 pooled
    assert pooled in (8, 16) and all(len(w.flow_holds) == len(w.gd_holds) == pooled for w in widths)
    v = check.criteria["linear_flow"]
    assert v.runs == pooled * len(widths) and 0 <= v.runs_agreeing <= v.runs and v.units == 1
    assert v.units_same_m_star == (not v.differing) == all(w.gd_decision == w.flow_decision for w in widths)
    for suffix in ("png", "pdf", "json"):
        assert (tmp_path / "fc" / f"critical_width_flow.{suffix}").stat().st_size > 1000
    assert critical_width_flow.main(check_flags).reused_units == 1
    for bad in (["--source", str(tmp_path / "none.json")], [*check_flags, "--solver-steps", "0"]):
        with pytest.raises(SystemExit):
            critical_width_flow.parse_args(bad)


def test_critical_width_flag_errors(tmp_path):
    from experiments import critical_width

    for bad in (
        ["--families", "npz"],
        ["--npz", str(tmp_path / "missing.npz")],
        ["--ns", "1"],
        ["--delta", "1"],
        ["--m-max", "0"],
        ["--datasets", "0"],
        ["--criteria", "fast"],
        ["--eta", "-1"],
        ["--flow-max-n", "0"],
        ["--train-max-n", "0"],
        ["--flow-families", "cubes"],
        ["--fixed-d-max-n", "0"],
    ):
        with pytest.raises(SystemExit) as info:
            critical_width.parse_args(bad)
        assert info.value.code == 2, bad


@pytest.mark.slow
def test_regimes_writes_every_study_and_resumes(tmp_path, capsys):
    from experiments import regimes

    flags = [
        "--quick",
        "--phase-widths",
        "64",
        "--lazy-alphas",
        "1",
        "8",
        "--lazy-widths",
        "32",
        "64",
        "--out",
        str(tmp_path / "rg"),
    ]
    summary = regimes.main(flags)
    for suffix in ("png", "pdf", "json"):
        assert (tmp_path / "rg" / f"regimes.{suffix}").stat().st_size > 1000
    saved = json.loads((tmp_path / "rg" / "regimes.json").read_text())
    assert set(saved) >= {"flow", "phases", "boundary", "catapult", "lazy", "config", "git_commit"}
    assert saved["flow"]["solver"]["accepted_steps"] > 0 and saved["flow"]["monitor"]["loss_envelope"]["held"]
    assert len(saved["phases"]) == 1 and np.asarray(saved["phases"][0]["regime"]).shape == (5, 2)
    assert set(saved["lazy"]) == {"erf_g0.5", "erf_g1"}
    assert saved["boundary"]["rise"]["mean"] is not None
    out = capsys.readouterr().out
    assert "loss rises at x" in out and "GD -> flow" in out
    again = regimes.main(flags)
    assert again.reused_units == 6 and again.boundaries == summary.boundaries
    assert regimes.claims(again, "cmd")


def test_regimes_flag_errors():
    from experiments import regimes

    for bad in (
        ["--flow-etas", "0.1", "0.15"],
        ["--lazy-widths", "63"],
        ["--ratio-min", "4", "--ratio-max", "2"],
        ["--activations", "tanh"],
        ["--n", "1"],
        ["--flow-rtol", "2"],
    ):
        with pytest.raises(SystemExit) as info:
            regimes.parse_args(bad)
        assert info.value.code == 2, bad


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sweep_process(out, i, port, count=2, exit_after=None, extra=()):
    """One process of ``experiments.width_sweep`` run across ``count`` local CPU processes (jax.distributed);
    ``exit_after``: it exits right after saving that many computed units (``experiments.cluster``'s fault hook)."""
    import os
    import subprocess
    import sys

    from experiments.cluster import EXIT_AFTER_UNITS

    extra = list(extra)
    if i is not None:
        extra += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(count), "--process-id", str(i)]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    env.pop(EXIT_AFTER_UNITS, None)
    if exit_after is not None:
        env[EXIT_AFTER_UNITS] = str(exit_after)
    # a session of its own: a signal the JAX runtime sends to its process group cannot reach the test worker
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.width_sweep", *TINY, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _per_unit_numbers(path):
    units = json.loads(path.read_text())["units"]
    keep = lambda u: {k: v for k, v in u.items() if k != "seconds"}  # noqa: E731
    return sorted((keep(u) for u in units), key=lambda u: (u["m"], u["seed"]))


def _assert_same_numbers(a, b):
    assert len(a) == len(b)
    for ua, ub in zip(a, b):
        assert ua.keys() == ub.keys()
        for key in ua:
            va, vb = ua[key], ub[key]
            if isinstance(va, (dict, str)):
                assert va == vb, key
            else:
                np.testing.assert_allclose(
                    np.asarray(va, float), np.asarray(vb, float), rtol=1e-6, atol=1e-12, err_msg=key
                )


@pytest.mark.slow
def test_a_sweep_across_two_processes_merges_to_the_single_process_result_and_survives_a_kill(tmp_path):
    """Two local CPU processes joined by jax.distributed split the width sweep's units; process 0 merges. Killing
    both processes and rerunning recomputes no unit that was finished before the kill. The kill is the fault hook
    of ``experiments.cluster``, an event and not a timer: process 1 exits right after saving its first unit, and
    process 0 (the coordinator, which must outlive it) once it has saved its own two and seen that one arrive."""
    from experiments.cluster import FAULT_EXIT_CODE

    single = _sweep_process(tmp_path / "single", None, None)
    assert single.wait(timeout=600) == 0, single.stdout.read()
    reference = _per_unit_numbers(tmp_path / "single" / "width_sweep.json")

    out, port = tmp_path / "pair", _free_port()
    # process 0 owns m8_seed0 and m8_seed1 (then waits for the others), process 1 owns m64_seed0 first
    procs = [_sweep_process(out, 0, port, exit_after=3), _sweep_process(out, 1, port, exit_after=1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [FAULT_EXIT_CODE] * 2, logs
    runs = out / "width_sweep_runs"
    finished = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    assert set(finished) == {"m8_seed0.json", "m64_seed0.json", "m8_seed1.json"}, finished

    port = _free_port()
    procs = [_sweep_process(out, i, port) for i in (0, 1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "process 0 merges" in logs[1]
    assert "(resumed: 2 of 2 units" in logs[0] and "(resumed: 1 of" in logs[1], logs  # each reused its own
    assert json.loads((out / "width_sweep.json").read_text())["reused_units"] == 2
    for name, mtime in finished.items():  # and did not rewrite them
        assert (runs / name).stat().st_mtime_ns == mtime, name
    _assert_same_numbers(_per_unit_numbers(out / "width_sweep.json"), reference)


def test_experiments_keep_compiled_programs_where_asked(tmp_path):
    """``use_compilation_cache`` (run by every experiment's flag parsing) points JAX's persistent cache at
    NTK_PROOFS_JAX_CACHE, keeps a directory the user gave JAX, and does nothing for ``off``."""
    import os
    import subprocess
    import sys

    code = (
        "import jax; from experiments.cli import use_compilation_cache; use_compilation_cache(); "
        "print(jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)"
    )
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
    }

    def cache_dir(**env):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**base, **env}, check=True
        )
        return out.stdout.split()

    assert cache_dir(NTK_PROOFS_JAX_CACHE=str(tmp_path / "c")) == [str(tmp_path / "c"), "0.0"]
    assert cache_dir(NTK_PROOFS_JAX_CACHE="off")[0] == "None"
    assert cache_dir(NTK_PROOFS_JAX_CACHE=str(tmp_path / "c"), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "j"))[0] == str(
        tmp_path / "j"
    )


def test_the_tests_use_the_experiments_cache_folder(monkeypatch, tmp_path):
    """tests/conftest.py restates ``compilation_cache_dir`` (the library's tests do not import the experiments)."""
    from experiments.cli import compilation_cache_dir
    from tests.conftest import compilation_cache_dir as tests_cache_dir

    for value in (str(tmp_path), "off"):
        monkeypatch.setenv("NTK_PROOFS_JAX_CACHE", value)
        assert tests_cache_dir() == compilation_cache_dir()
    monkeypatch.delenv("NTK_PROOFS_JAX_CACHE")
    assert tests_cache_dir() == compilation_cache_dir()


@pytest.mark.slow
def test_all_starts_every_experiment_from_the_process_precision(tmp_path, monkeypatch):
    """experiments.all runs the experiments in one process: one that switches the precision (hessian forces float64)
    must not leave the next running in it. Two stand-in experiments: the first switches x64, the second records it."""
    import types

    import jax

    from experiments import all as run_all

    start, seen = bool(jax.config.jax_enable_x64), []

    def switcher(flags):
        jax.config.update("jax_enable_x64", not start)
        return {}

    def recorder(flags):
        seen.append(bool(jax.config.jax_enable_x64))
        return {}

    fakes = {
        "experiments.hessian": types.SimpleNamespace(main=switcher, claims=lambda s, c: []),
        "experiments.deep_training": types.SimpleNamespace(main=recorder, claims=lambda s, c: []),
    }
    monkeypatch.setattr(run_all.importlib, "import_module", lambda name: fakes[name])
    try:
        run_all.main(["--only", "hessian", "deep_training", "--out", str(tmp_path)])
    finally:
        jax.config.update("jax_enable_x64", start)
    assert seen == [start]


def test_experiments_multiply_matrices_exactly_in_their_dtype():
    """set_precision (every experiment's first call) asks XLA for full-precision products (GPUs would use TF32
    for float32), visible as HIGHEST in the lowered program, and keeps a precision the user chose."""
    import jax
    import jax.numpy as jnp

    from experiments.cli import set_precision

    was = jax.config.jax_default_matmul_precision
    x = jnp.ones((4, 4), jnp.float32)
    try:
        jax.config.update("jax_default_matmul_precision", None)
        assert "HIGHEST" not in jax.jit(jnp.matmul).lower(x, x).as_text()
        set_precision(False)
        assert jax.config.jax_default_matmul_precision == "highest"
        assert "HIGHEST" in jax.jit(jnp.matmul).lower(x, x).as_text()
        jax.config.update("jax_default_matmul_precision", "bfloat16")
        set_precision(False)
        assert jax.config.jax_default_matmul_precision == "bfloat16"
    finally:
        jax.config.update("jax_default_matmul_precision", was)


@pytest.mark.parametrize("content", ['{"config": {"a": 1}, "res', "\x00\xff garbage", '["a list"]', '{"config": {}}'])
def test_a_corrupt_unit_file_is_recomputed_with_a_warning_naming_it(tmp_path, content):
    """A truncated, garbage or malformed unit JSON is never merged: the store warns, naming the file, and the unit
    is computed again (and the file replaced atomically)."""
    from experiments.cluster import run_units
    from experiments.store import UnitStore

    store = UnitStore(tmp_path)
    store.path("u").parent.mkdir(parents=True, exist_ok=True)
    store.path("u").write_bytes(content.encode("latin-1"))
    calls = []
    with pytest.warns(UserWarning, match=r"unit file .*u\.json is (unreadable|malformed)"):
        results, reused = run_units(store, [("u", {"a": 1}, lambda: calls.append(1) or {"x": 2.0})], desc="t")
    assert results == [{"x": 2.0}] and reused == 0 and calls == [1]
    assert store.load("u", {"a": 1}) == {"x": 2.0}


@pytest.mark.slow
def test_a_process_that_dies_does_not_hang_the_merge(tmp_path):
    """Process 1 dies after its first unit (the fault hook, an event); process 0 waits --merge-timeout seconds for
    the rest, then stops, naming the missing unit and the process that owned it; a rerun completes the sweep."""
    out, port = tmp_path / "pair", _free_port()
    procs = [_sweep_process(out, 0, port, extra=["--merge-timeout", "15"]), _sweep_process(out, 1, port, exit_after=1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert procs[1].returncode == 75 and procs[0].returncode != 0, logs
    assert "1 units did not appear" in logs[0] and "process 1: m64_seed1" in logs[0], logs[0][-3000:]
    port = _free_port()
    procs = [_sweep_process(out, i, port) for i in (0, 1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "(resumed: 2 of 2 units" in logs[0] and "(resumed: 1 of 2 units" in logs[1], logs


@pytest.mark.parametrize("name", ALL_EXPERIMENTS)
def test_a_committed_summary_round_trips_through_its_record(name):
    """The committed figures/<name>.json (deep_training: one per study) loads into the experiment's summary record
    (``SUMMARY``), as experiments.all loads it, and the record writes back the same JSON."""
    import importlib
    from pathlib import Path

    from experiments.all import saved_summary
    from experiments.store import to_jsonable

    module = importlib.import_module(f"experiments.{name}")
    figures = Path(__file__).resolve().parent.parent / "figures"
    record = saved_summary(name, figures)
    assert isinstance(record, module.SUMMARY)
    if name == "deep_training":  # one JSON per study, each a field of the record
        parts = {f"{name}_{study}.json": getattr(record, study) for study in module.STUDIES}
    else:
        parts = {f"{name}.json": record}
    for file, part in parts.items():
        assert to_jsonable(part) == json.loads((figures / file).read_text()), file


def test_the_saved_forms_of_library_results_keep_the_librarys_fields():
    """The records that hold a library result as saved (built from it by position) have its fields, in order."""
    import ntk_proofs as nt
    from experiments import critical_width, regimes
    from experiments.store import Check, Fit, Monitor
    from ntk_proofs.du2019.width_law import HoldCurveFit, LawFit
    from ntk_proofs.regimes.lazy import Laziness
    from ntk_proofs.regimes.phases import Boundaries, Boundary

    assert Fit._fields == nt.SlopeFit._fields and Check._fields == nt.MonitorCheck._fields
    assert Monitor._fields == width_sweep.SeedsMonitor._fields == nt.TheoremMonitor._fields
    assert critical_width.Law._fields == LawFit._fields and critical_width.HoldCurve._fields == HoldCurveFit._fields
    from ntk_proofs.du2019 import critical_width as search

    # the experiment's copies (kept so that --help does not import JAX) of the library's criteria
    assert critical_width.CRITERIA == search.CRITERIA and critical_width.FLOW_CRITERIA == search.FLOW_CRITERIA
    assert regimes.Threshold._fields == Boundary._fields and regimes.LazyPoint._fields == Laziness._fields
    assert regimes.BoundaryUnit._fields[1:] == Boundaries._fields[1:]  # its width is m


def test_critical_width_reads_the_law_of_a_saved_summary_and_none_from_an_older_one(tmp_path):
    from pathlib import Path

    from experiments import critical_width

    figures = Path(__file__).resolve().parent.parent / "figures"
    law = critical_width.saved_law(figures / "critical_width.json")
    assert law and all(isinstance(v, critical_width.Law) for v in law.values())
    older = tmp_path / "older.json"  # a summary made before the law existed
    older.write_text(json.dumps({"experiment": "critical_width", "units": []}))
    assert critical_width.saved_law(older) == {}
    assert critical_width.saved_law(tmp_path / "missing.json") == {}


class _Inner(NamedTuple):
    value: float
    ratio: float | None


class _Outer(NamedTuple):
    name: str
    inner: _Inner
    rows: list[_Inner]
    by_key: dict[str, _Inner]
    sizes: tuple[int, ...]
    maybe: _Inner | None = None


def test_from_jsonable_builds_nested_records_and_refuses_an_unknown_key():
    from experiments.store import from_jsonable, to_jsonable

    record = _Outer("a", _Inner(1.0, None), [_Inner(2.0, 0.5)], {"k": _Inner(3.0, 1.5)}, (1, 2))
    data = json.loads(json.dumps(to_jsonable(record)))
    assert from_jsonable(_Outer, data) == record
    assert from_jsonable(_Outer, dict(data, maybe={"value": 4.0, "ratio": None})).maybe == _Inner(4.0, None)
    with pytest.raises(ValueError, match="no field"):
        from_jsonable(_Outer, dict(data, typo=1))


def test_a_sphere_data_set_with_parallel_inputs_is_redrawn_and_a_good_one_kept():
    """critical_width's sphere families condition on Du et al.'s no-parallel-inputs assumption: a draw that
    ``check_inputs`` refuses (frequent on the circle, d = n/4 at n = 8) is redrawn; one it accepts is kept as is."""
    import jax

    import ntk_proofs as nt
    from experiments.critical_width import sphere_without_parallel_inputs

    def refused(X):
        try:
            nt.check_inputs(X)
        except nt.AssumptionError:
            return True
        return False

    keys = [jax.random.PRNGKey(s) for s in range(200)]
    bad = next(k for k in keys if refused(nt.unit_sphere(k, 8, 2)))
    good = next(k for k in keys if not refused(nt.unit_sphere(k, 8, 2)))
    X = sphere_without_parallel_inputs(bad, 8, 2)
    assert not refused(X) and X.shape == (8, 2)
    np.testing.assert_array_equal(sphere_without_parallel_inputs(good, 8, 2), nt.unit_sphere(good, 8, 2))
