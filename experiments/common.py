"""The experiments' shared pieces, by job: ``experiments.cli`` (flags, presets, runtime settings, progress, tables),
``experiments.store`` (JSON, provenance, resume, ``finish``), ``experiments.cluster`` (units across processes), and
the claims in the library (``ntk_proofs.claims``). This module re-exports them under their old names."""

from experiments.cli import (CLUSTER_FIELDS, Cluster, Common, apply_preset, compilation_cache_dir, config_values,
                             flags_given, format_table, option, parse_config, progress, set_precision, sorted_unique,
                             step_flag_problem, use_compilation_cache)
from experiments.cluster import cluster_problem, owners, run_sweep, run_units, saved_not_merged, start_processes
from experiments.store import REPO, UnitStore, finish, git_state, read_json, to_jsonable, unit_config, versions, write_json
from ntk_proofs.claims import claim, claims_table, slope_claim

__all__ = ["CLUSTER_FIELDS", "Cluster", "Common", "REPO", "UnitStore", "apply_preset", "claim", "claims_table",
           "cluster_problem", "compilation_cache_dir", "config_values", "finish", "flags_given", "format_table",
           "git_state", "option", "owners", "parse_config", "progress", "read_json", "run_sweep", "run_units",
           "saved_not_merged", "set_precision", "slope_claim", "sorted_unique", "start_processes",
           "step_flag_problem", "to_jsonable", "unit_config", "use_compilation_cache", "versions", "write_json"]
