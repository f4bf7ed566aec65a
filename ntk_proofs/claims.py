"""The claims the suite checks, as rows of ``figures/CLAIMS.md``: what was measured, the bound or prediction it is
held against, whether it held, and the command that made the number.
"""

from __future__ import annotations


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.3e}"
    return str(value)


def claim(paper: str, statement: str, measured, bound, held: bool, command: str) -> dict:
    """One row of figures/CLAIMS.md: a claim the suite checks, what was measured, the bound or prediction it is
    held against, whether it held, and the command that made the number."""
    return dict(paper=paper, statement=statement, measured=measured, bound=bound, held=bool(held), command=command)


def slope_claim(
    paper: str, statement: str, fit: dict, exponent: float, command: str, *, upper_bound: bool = False
) -> dict:
    """A scaling claim y ~ x^exponent from a log-log fit with a 95% confidence interval.

    A predicted exponent (``upper_bound=False``) holds when it lies in the interval. An O(x^exponent) bound
    (``upper_bound=True``: y decays at least that fast) holds unless the interval lies entirely above it.
    """
    if fit["ci_low"] is None:
        return claim(paper, statement, f"{fit['slope']:.3f} (no CI)", f"{exponent:g}", False, command)
    held = fit["ci_low"] <= exponent if upper_bound else fit["ci_low"] <= exponent <= fit["ci_high"]
    measured = f"{fit['slope']:.3f} [{fit['ci_low']:.3f}, {fit['ci_high']:.3f}]"
    return claim(
        paper, statement, measured, f"<= {exponent:g} (O bound)" if upper_bound else f"{exponent:g}", held, command
    )


def claims_table(rows: list[dict]) -> str:
    """The claims as a Markdown table (figures/CLAIMS.md)."""

    def cell(value):
        text = _fmt(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    lines = ["| paper | claim | measured | bound or prediction | held | command |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(cell(r[k]) for k in ("paper", "statement", "measured", "bound"))
            + " | "
            + ("yes" if r["held"] else "**no**")
            + f" | `{r['command']}` |"
        )
    return "\n".join(lines) + "\n"
