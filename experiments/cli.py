"""The experiments' command lines: config dataclasses whose fields are flags (``option``, ``Common``, ``Cluster``),
presets, usage errors, the JAX runtime settings an experiment switches on (float64 and exact matrix products,
the persistent compilation cache), the progress bar and printed tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from typing import Any


def option(default, help: str, **flag):
    """A config field that is also a command-line flag ``--field-name``, with its help text (and e.g. ``choices``)."""
    return dataclasses.field(default=default, metadata=dict(help=help, **flag))


@dataclasses.dataclass(frozen=True)
class Common:
    """The fields every experiment's config shares; each experiment's config dataclass extends it."""

    seed: int = option(0, "seed of the data, the labels and the initializations")
    x64: bool = option(False, "run in float64 (same as JAX_ENABLE_X64=1)")
    out: str = option("figures", "output folder for the figure, the JSON and the resume cache")
    quick: bool = option(False, "a small preset that finishes in seconds (for tests); flags given explicitly win")
    resume: bool = option(True, "reuse finished units whose config matches")


MERGE_TIMEOUT = 24 * 3600.0  # seconds process 0 waits for the other processes' units by default


@dataclasses.dataclass(frozen=True)
class Cluster(Common):
    """``Common`` plus the flags of a sweep that runs across processes and hosts with ``jax.distributed``."""

    coordinator: str = option(
        "",
        "HOST:PORT of process 0, for a run across processes (jax.distributed); the "
        "units are split among them and process 0 merges and plots",
    )
    num_processes: int = option(1, "number of processes of a --coordinator run")
    process_id: int = option(0, "this process's index, 0 .. --num-processes - 1")
    distributed: bool = option(False, "jax.distributed.initialize() with the cluster's own settings (Slurm, ...)")
    merge_timeout: float = option(
        MERGE_TIMEOUT,
        "seconds process 0 waits for the other processes' units before it stops and names the missing ones "
        "and their processes (a rerun resumes)",
    )


CLUSTER_FIELDS = ("coordinator", "num_processes", "process_id", "distributed", "merge_timeout")


def parse_config(
    cls,
    argv,
    *,
    prog: str,
    description: str,
    presets: dict | None = None,
    sort: tuple = (),
    validate=None,
    resumable: bool = False,
):
    """Parse the flags of the config dataclass ``cls`` (one ``--flag`` per field, from its ``option`` metadata).

    ``presets`` maps a boolean field (``quick``, ``paper``) to the values it sets, except those whose flag was
    given explicitly. ``sort`` names sweep axes to deduplicate and sort. ``validate(config)`` returns an error
    message (a usage error, exit code 2) or None. ``resumable`` experiments get ``--no-resume``.
    """
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    for f in dataclasses.fields(cls):
        if f.name == "resume":
            if resumable:
                parser.add_argument(
                    "--no-resume",
                    dest="resume",
                    action="store_false",
                    help="recompute every unit even if a finished result with the same config exists",
                )
            continue
        kw = dict(help=f.metadata.get("help", ""), default=f.default)
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        if isinstance(f.default, bool):
            # a flag that is on by default needs its --no- form to be turned off
            kw["action"] = argparse.BooleanOptionalAction if f.default else "store_true"
        elif isinstance(f.default, tuple):
            # an empty default takes str items, and may be given empty (to clear what a preset set)
            kw.update(
                nargs="+" if f.default else "*", type=type(f.default[0]) if f.default else str, default=list(f.default)
            )
        else:
            kw["type"] = str if f.default is None else type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), **kw)
    args = parser.parse_args(argv)
    values = config_values(cls, args)
    for flag, preset in (presets or {}).items():
        if values.get(flag):
            values = apply_preset(values, preset, argv)
    for axis in sort:
        values[axis] = sorted_unique(values[axis])
    config = cls(**values)
    message = validate(config) if validate else None
    if message:
        parser.error(message)
    use_compilation_cache()
    return config


def compilation_cache_dir() -> str | None:
    """The folder of JAX's persistent compilation cache for the suite: ``$NTK_PROOFS_JAX_CACHE``, by default
    ``~/.cache/ntk_proofs/jax``; None where it is ``off``."""
    where = os.environ.get("NTK_PROOFS_JAX_CACHE", os.path.expanduser("~/.cache/ntk_proofs/jax"))
    return None if where == "off" else where


def use_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache for an experiment: every compiled program is kept in
    ``compilation_cache_dir()``, so a rerun, or a resumed sweep, reads its programs back instead of compiling them
    again.
    A cache directory the user set for JAX (``JAX_COMPILATION_CACHE_DIR``) is kept."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    where = compilation_cache_dir()
    if where is None or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def flags_given(argv) -> set[str]:
    """The config field names of the flags given explicitly on the command line (they win over presets)."""
    args = argv if argv is not None else sys.argv[1:]
    return {a.lstrip("-").replace("-", "_").split("=")[0] for a in args if a.startswith("--")}


def apply_preset(values: dict, preset: dict, argv) -> dict:
    """``values`` updated with a preset's entries, except those whose flag was given explicitly."""
    given = flags_given(argv)
    return dict(values, **{k: v for k, v in preset.items() if k not in given})


def set_precision(x64: bool) -> None:
    """Switch JAX to float64 when asked (must run before any array is created), and make every matrix product
    exact in its dtype: on GPUs JAX multiplies float32 matrices in TF32 by default (10 mantissa bits), a round-off
    floor far above the one the measurements assume (README, "On a GPU"). On CPUs nothing changes. A precision the user
    set (``JAX_DEFAULT_MATMUL_PRECISION``) is kept."""
    import jax  # here, not at the top: --help and the usage errors must not pay for importing JAX

    if x64:
        jax.config.update("jax_enable_x64", True)
    if jax.config.jax_default_matmul_precision is None:
        jax.config.update("jax_default_matmul_precision", "highest")


def config_values(cls, args: argparse.Namespace) -> dict:
    """The fields of the config dataclass ``cls`` read from parsed flags; lists become tuples (configs stay
    hashable)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def sorted_unique(values) -> tuple:
    """A sweep axis as given on the command line, deduplicated and in increasing order."""
    return tuple(sorted(set(values)))


def step_flag_problem(value: str, keywords: tuple[str, ...], flag: str = "--eta") -> str | None:
    """A step-size flag is a positive finite number or one of ``keywords``; otherwise the usage error to report."""
    if value in keywords:
        return None
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except ValueError:
        ok = False
    choices = " or ".join(repr(k) for k in keywords)
    return None if ok else f"{flag} must be a positive number or {choices}; got {value!r}."


def progress(iterable=None, **kwargs):
    """The progress bar of every long loop (tqdm on standard error)."""
    from tqdm.auto import tqdm  # here: importing tqdm.auto pulls in IPython's widgets where they are installed

    return tqdm(iterable, file=sys.stderr, **kwargs)


def init_key(k_init, m: int, seed: int):
    """The PRNG key of initialization ``seed`` at width m, for the experiments that draw one net per (width, seed).

    Seed 0 is ``fold_in(k_init, m)``, the key of the single initialization per width that fine_grained and
    linearization used before ``--seeds`` (their runs and unit files are unchanged); seed s >= 1 folds s into it.

    Args:
      k_init: the experiment's initialization key.
      m: hidden width.
      seed: index of the initialization, >= 0.

    Returns:
      The key the width-m parameters are drawn from.
    """
    import jax  # here, not at the top: --help must not pay for importing JAX

    key = jax.random.fold_in(k_init, m)
    return key if seed == 0 else jax.random.fold_in(key, seed)


def format_fit(fit) -> str:
    """A fitted slope with its interval, "1.23 [0.98, 1.48]" ("n/a" without a slope, no interval without one)."""
    if fit.slope is None:
        return "n/a"
    ci = "" if fit.ci_low is None else f" [{fit.ci_low:.2f}, {fit.ci_high:.2f}]"
    return f"{fit.slope:.2f}{ci}"


def format_width(m, censored: str) -> str:
    """A critical width m* as printed: ">max" where none up to m_max held, "<=m" where the smallest width held
    (censored "below"), else m."""
    if m is None:
        return ">max"
    return f"<={m}" if censored == "below" else str(m)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.3e}"
    return str(value)


# what a run that stops on a broken assumption or a bad input raises: ValueError (the suite's AssumptionError is one),
# a missing file, or a missing key of a user's .npz
USER_ERRORS = (ValueError, FileNotFoundError, KeyError, FloatingPointError)  # FloatingPointError: GD diverged


def run_main(main, argv=None) -> None:
    """Run an experiment's ``main`` from the command line (its ``__main__``).

    A run that stops on a broken assumption or a bad input (``USER_ERRORS``) prints one line that names it and exits
    with status 2, without a traceback; ``--debug`` (anywhere among the flags) lets the exception through with its
    traceback. Any other exception is a bug and is never hidden.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        main(argv)
    except USER_ERRORS as err:
        if debug:
            raise
        text = " ".join(str(err.args[0] if isinstance(err, KeyError) and err.args else err).split())
        print(f"error: {text} (rerun with --debug for the traceback)", file=sys.stderr)
        raise SystemExit(2) from None
