"""Case: the ``--paper`` width sweep's units split into compile, steps, diagnostics and the rest, in units of their
(n, n) @ (n, m) products."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.cases.du_step import kernel_product


def paper_config(quick: bool = False, override: dict | None = None):
    """The configuration of ``python -m experiments.width_sweep --paper`` (the quick bench: a smaller copy)."""
    import dataclasses

    from experiments import width_sweep

    config = width_sweep.parse_args(["--paper"])
    preset = dict(n=300, d=300, widths=(100, 1000, 4000)) if quick else {}
    return dataclasses.replace(config, **preset, **(override or {}))


def paper_profile(quick: bool = False, override: dict | None = None) -> dict:
    """The ``--paper`` width sweep's units against the time of their products, with the parts of their time.

    A unit is what the sweep runs per width, written here with the public API: ``train_gd`` with diagnostics every
    ``record_every`` steps and the Cholesky certificate, then the H^inf kernel prediction, the rates and the
    theorem monitor. Per width: ``total``, the unit cold, as in a fresh sweep; ``compile``, that cold unit minus the
    same unit run again at once (first call minus steady state: tracing, lowering and compiling every program the
    unit uses); ``steps``, ``train_gd`` without diagnostics (warm); ``diagnostics``, the unit's ``train_gd`` call
    (warm) minus ``steps``; ``rest`` = total - compile - steps - diagnostics (host work: the kernel prediction, the
    rates, the monitor, transfers). As in the sweep, H^inf's eigendecomposition is computed once (``setup``)
    and shared by the widths' kernel predictions. Where JAX's persistent compilation cache is on
    (``persistent_cache``, its folder), ``compile`` is partly loading programs from it. ``products``: steps x the
    marginal time of one (n, n) @ (n, m) product. The set-up (data, H^inf and its spectra) is reported once as
    ``setup``."""
    import jax

    import ntk_proofs as nt

    config = paper_config(quick, override)
    t = time.perf_counter()
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(0), 3)
    X = nt.unit_sphere(kx, config.n, config.d)
    y = nt.gaussian_labels(ky, config.n)
    H = nt.gram_infinity(X)
    spectrum = np.linalg.eigvalsh(np.asarray(H, np.float64))
    lambda0, eta = float(spectrum[0]), 1.0 / float(spectrum[-1])  # the sweep's eta = "auto"
    problem = dict(
        X=X, y=y, H=H, spectrum=jax.block_until_ready(nt.kernel_spectrum(H)), lambda0=lambda0, eta=eta, kw=kw
    )
    setup = time.perf_counter() - t
    rows = [paper_unit(config, problem, m) for m in config.widths]
    sums = {k: float(sum(r[k] for r in rows)) for k in ("total", "compile", "steps", "diagnostics", "rest", "products")}
    return dict(
        config=dict(
            n=config.n, d=config.d, widths=list(config.widths), steps=config.steps, record_every=config.record_every
        ),
        setup=setup,
        widths=rows,
        sums=sums,
        persistent_cache=jax.config.jax_compilation_cache_dir,
        ratio=(sums["total"] + setup) / sums["products"],
        parts_over_products={k: sums[k] / sums["products"] for k in ("compile", "steps", "diagnostics", "rest")},
    )


def paper_unit(config, problem: dict, m: int) -> dict:
    """One width of ``paper_profile``: the unit cold, again at once, then its train_gd calls warm."""
    import jax

    import ntk_proofs as nt

    X, y, H, lambda0, eta = (problem[k] for k in ("X", "y", "H", "lambda0", "eta"))
    params = nt.init_params(jax.random.fold_in(problem["kw"], m), m, config.d, kappa=config.kappa)

    def train(record_every, certify):
        return nt.train_gd(
            params,
            X,
            y,
            eta=eta,
            steps=config.steps,
            record_every=record_every,
            certify_lambda0=lambda0 if certify else None,
            certify_every=1 if certify else None,  # as the sweep's units: (C2) proved at every step
        )

    proofs = []

    def unit():
        result = train(config.record_every, True)
        proofs.append(result.certificate)
        loss = np.asarray(result.loss)
        rate = nt.empirical_rate(loss)
        residual0 = y - nt.predict(params, X)
        predicted = np.asarray(
            nt.kernel_prediction(H, residual0, eta=eta, steps=config.steps, spectrum=problem["spectrum"])
        )
        nt.empirical_rate(predicted, floor=rate.floor)
        drift = nt.drift_radius(config.n, float(np.sqrt(2.0 * loss[0])), m, lambda0)
        nt.theorem_monitor(result, eta=eta, lambda0=lambda0, drift_bound=drift)

    def seconds(call):
        t = time.perf_counter()
        call()
        return time.perf_counter() - t

    total = seconds(unit)
    compile_s = total - seconds(unit)
    full = seconds(lambda: train(config.record_every, True))
    train(0, False)  # compiles the bare program
    bare = seconds(lambda: train(0, False))
    product = float(np.median([kernel_product(config.n, m)() for _ in range(3)])) * config.steps
    return dict(
        m=m,
        total=total,
        compile=compile_s,
        steps=bare,
        diagnostics=full - bare,
        rest=total - compile_s - full,
        products=product,
        factorizations_per_100_steps=100.0 * proofs[0].factorizations / len(np.asarray(proofs[0].step)),
    )
