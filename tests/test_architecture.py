"""The layers of ARCHITECTURE.md: imports only go down, no private name crosses a module border, and the public
API is exactly ``__all__``."""

import ast
from pathlib import Path

import ntk_proofs as nt

ROOT = Path(__file__).resolve().parent.parent
LAYER_1 = {
    "ntk_proofs.data",
    "ntk_proofs.fit",
    "ntk_proofs.claims",
    "ntk_proofs.models",
    "ntk_proofs.models.two_layer",
    "ntk_proofs.models.two_layer_family",
    "ntk_proofs.models.mlp",
    "ntk_proofs.models.deep_linear",
}
LAYER_2 = {"ntk_proofs.linalg", "ntk_proofs.gd"}


def layer(module: str) -> int:
    if module.startswith("experiments"):
        return 4
    if module in LAYER_1:
        return 1
    if module in LAYER_2:
        return 2
    return 3  # the results, and the package's __init__ (the API facade over them)


def modules():
    for folder in ("ntk_proofs", "experiments"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def test_no_layer_imports_a_higher_one():
    bad = []
    for name, path in modules():
        if name == "ntk_proofs":
            continue
        for module, item in imports(path):
            if not module.startswith(("ntk_proofs", "experiments")):
                continue
            target = f"{module}.{item}" if item and f"{module}.{item}" in dict(modules()) else module
            if layer(target) > layer(name) or (target == "ntk_proofs" and name.startswith("ntk_proofs")):
                bad.append(f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})")
    assert not bad, "\n".join(bad)


def test_the_library_tests_do_not_import_the_experiments():
    """Only the experiments' own tests (and the bench's) may import ``experiments``: conftest.py and the library's
    tests depend on the library alone."""
    allowed = {
        "test_experiments.py",
        "test_benchmarks.py",
        "test_claims_rows.py",
        "test_cli_errors.py",
        "test_deep_width.py",
    }
    bad = [
        f"{path.name} imports {module}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name not in allowed
        for module, _ in imports(path)
        if module.startswith("experiments")
    ]
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_module_border():
    bad = [
        f"{name} imports {module}.{item}"
        for name, path in modules()
        for module, item in imports(path)
        if module.startswith(("ntk_proofs", "experiments")) and item and item.startswith("_")
    ]
    assert not bad, "\n".join(bad)


def test_public_api_is_all_and_keeps_the_names_independent_checks_call():
    required = {
        "unit_sphere",
        "init_params",
        "predict",
        "gram_infinity",
        "gram_infinity_mc",
        "gram_matrix",
        "lambda_min",
        "train_gd",
        "empirical_ntk",
        "linearize",
        "eigen_projections",
        "predicted_residual",
        "generalization_bound",
        "convexity_certificate",
        "top_eigenvalues",
        "bottom_eigenvalues",
        "hutchinson_trace",
    }
    assert required <= set(nt.__all__)
    assert len(nt.__all__) == len(set(nt.__all__))
    exported = {k for k, v in vars(nt).items() if not k.startswith("_") and k not in ("annotations",)}
    subpackages = {
        "arora2019",
        "curvature",
        "data",
        "du2019",
        "du_lee2019",
        "fit",
        "landscape",
        "linalg",
        "models",
        "ntk",
        "pruning",
        "regimes",
        "runtime",
        "saddles",
        "stability",
    }
    assert exported - subpackages == set(nt.__all__)


def test_experiment_modules_keep_their_names():
    for name in (
        "width_sweep",
        "fine_grained",
        "linearization",
        "landscape",
        "hessian",
        "dynamics",
        "deep_training",
        "all",
    ):
        assert (ROOT / "experiments" / f"{name}.py").exists(), name
