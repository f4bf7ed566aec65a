"""Flag handling shared by every experiment: frozen configs from parsed flags, the step-size flag check."""

from __future__ import annotations

import argparse
import dataclasses
import math


def config_values(cls, args: argparse.Namespace) -> dict:
    """The fields of the config dataclass ``cls`` read from parsed flags; lists become tuples (configs stay hashable)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def sorted_unique(values) -> tuple:
    """A sweep axis as given on the command line, deduplicated and in increasing order."""
    return tuple(sorted(set(values)))


def check_step_flag(parser: argparse.ArgumentParser, value: str, keywords: tuple[str, ...], flag: str = "--eta") -> None:
    """A step-size flag is a positive finite number or one of ``keywords``; anything else is a usage error."""
    if value in keywords:
        return
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except ValueError:
        ok = False
    if not ok:
        choices = " or ".join(repr(k) for k in keywords)
        parser.error(f"{flag} must be a positive number or {choices}; got {value!r}.")
