"""ntk_proofs: check the theory of neural-network optimization against experiment, in JAX.

The public API, grouped by the result it serves; ``__all__`` lists it name by name. Everything else lives in
its module (see ARCHITECTURE.md): ``ntk_proofs.gd`` is the one gradient-descent driver, ``ntk_proofs.linalg``
the eigensolvers, ``ntk_proofs.du2019`` the heart of the suite.
"""

from ntk_proofs import claims, gd
from ntk_proofs.arora2019 import (
    EigenProjections,
    KernelSpectrum,
    eigen_projections,
    generalization_bound,
    kernel_prediction,
    kernel_spectrum,
    predicted_residual,
)
from ntk_proofs.curvature import (
    SpectralDensity,
    TraceEstimate,
    bottom_eigenvalues,
    dense_hessian,
    hessian_index,
    hessian_spectrum,
    hutchinson_trace,
    hvp,
    spectral_density,
    top_eigenvalues,
)
from ntk_proofs.data import (
    AssumptionError,
    check_inputs,
    corrupt_labels,
    digits_split,
    gaussian_labels,
    load_digits_binary,
    load_npz,
    normalize_rows,
    prepare_inputs,
    train_test_split,
    unit_sphere,
)
from ntk_proofs.du2019.bounds import (
    MONITOR_CHECKS,
    MonitorCheck,
    TheoremMonitor,
    drift_radius,
    empirical_rate,
    flow_drift_radius,
    flow_envelope,
    lambda_zero,
    linear_rate_envelope,
    max_step_size,
    perturbation_radius,
    required_width,
    theorem_monitor,
    theorem_rate,
)
from ntk_proofs.du2019.critical_width import CRITERIA, CriticalWidth, critical_width, critical_widths
from ntk_proofs.du2019.gram import gram_infinity, gram_infinity_mc, gram_matrix
from ntk_proofs.du2019.published_widths import PUBLISHED_WIDTHS, PublishedWidth, published_widths
from ntk_proofs.du2019.sweep import train_gd_batched
from ntk_proofs.du2019.training import FloorCertificate, TrainHistory, TrainResult, train_gd, width_mesh
from ntk_proofs.du2019.width_law import HoldCurveFit, LawFit, counting_ratio, fit_hold_curve, fit_log_linear
from ntk_proofs.du_lee2019.bounds import required_width_deep, step_size_deep
from ntk_proofs.du_lee2019.gram import gram_deep
from ntk_proofs.du_lee2019.kernels import DeepKernels, deep_kernels, gram_infinity_deep, lambda_zero_deep
from ntk_proofs.du_lee2019.models import DeepNet, DeepParams, init_deep
from ntk_proofs.du_lee2019.training import (
    DeepHistory,
    DeepTheoremMonitor,
    DeepTrainResult,
    deep_theorem_monitor,
    train_deep,
)
from ntk_proofs.fit import SlopeFit, loglog_slope
from ntk_proofs.gd import GDRun, GradientDescentDiverged, gd_trajectory
from ntk_proofs.landscape import (
    Barrier,
    BezierFit,
    Certificate,
    CertificateSearch,
    bezier_point,
    convexity_certificate,
    deep_linear_example,
    filter_normalized_directions,
    fit_bezier,
    interpolate,
    least_squares_loss,
    logistic_loss,
    loss_surface_2d,
    path_barrier,
    permutation_example,
    sigmoid_mlp_example,
    slice_1d,
)
from ntk_proofs.linalg import (
    Eigenpairs,
    LanczosResult,
    eigh_descending,
    extreme_eigenvalues,
    lambda_max,
    lambda_min,
    lanczos,
    tridiagonal_eigh,
)
from ntk_proofs.models.deep_linear import DeepLinear, deep_linear_loss
from ntk_proofs.models.mlp import MLP, Dense
from ntk_proofs.models.two_layer import Params, TwoLayerFamily, init_family, init_params, loss, loss_gradient, predict
from ntk_proofs.ntk import (
    InfiniteWidthKernels,
    LinearDynamics,
    empirical_ntk,
    infinite_width_kernels,
    infinite_width_nngp,
    infinite_width_ntk,
    linear_dynamics,
    linearize,
)
from ntk_proofs.pruning import Ticket, lottery_ticket, magnitude_mask, sparsity
from ntk_proofs.regimes.flow import FlowConvergence, FlowResult, flow_monitor, gd_flow_distance, gradient_flow
from ntk_proofs.regimes.kernels import MonteCarloGram, gram_infinity_family, gram_infinity_family_mc, lambda_zero_family
from ntk_proofs.regimes.lazy import Laziness, laziness
from ntk_proofs.regimes.phases import (
    REGIMES,
    Boundaries,
    Boundary,
    PhaseGrid,
    Thresholds,
    classify_runs,
    phase_boundaries,
    phase_grid,
    tangent_sharpness,
)
from ntk_proofs.regimes.training import FamilyRun, KernelRecord, train_family, train_family_batched
from ntk_proofs.runtime import memory_maps, release_compiled_programs
from ntk_proofs.saddles import CriticalPoint, escape_saddle, find_critical_point
from ntk_proofs.stability import (
    LayerStatistics,
    descent_lemma_violations,
    edge_of_stability_step,
    growth_factor,
    largest_stable_step,
    layer_statistics,
    measured_rate,
    predicted_variances,
    quadratic_gd_rate,
    sharpness_trajectory,
)

__all__ = [
    # data (inputs on the sphere, labels, the bundled digits, a user's .npz)
    "AssumptionError",
    "check_inputs",
    "corrupt_labels",
    "digits_split",
    "gaussian_labels",
    "load_digits_binary",
    "load_npz",
    "normalize_rows",
    "prepare_inputs",
    "train_test_split",
    "unit_sphere",
    # models
    "Params",
    "init_params",
    "predict",
    "loss",
    "loss_gradient",
    "MLP",
    "Dense",
    "DeepLinear",
    "deep_linear_loss",
    # linalg
    "lambda_min",
    "lambda_max",
    "eigh_descending",
    "lanczos",
    "tridiagonal_eigh",
    "extreme_eigenvalues",
    "Eigenpairs",
    "LanczosResult",
    # the gradient-descent driver
    "gd",
    "gd_trajectory",
    "GDRun",
    "GradientDescentDiverged",
    # the claims of figures/CLAIMS.md
    "claims",
    # Du et al. (2019)
    "gram_infinity",
    "gram_infinity_mc",
    "gram_matrix",
    "train_gd",
    "train_gd_batched",
    "width_mesh",
    "TrainResult",
    "FloorCertificate",
    "memory_maps",
    "release_compiled_programs",
    "TrainHistory",
    "lambda_zero",
    "linear_rate_envelope",
    "theorem_rate",
    "empirical_rate",
    "drift_radius",
    "perturbation_radius",
    "max_step_size",
    "required_width",
    "theorem_monitor",
    "TheoremMonitor",
    "MONITOR_CHECKS",
    "MonitorCheck",
    "critical_width",
    "critical_widths",
    "PUBLISHED_WIDTHS",
    "PublishedWidth",
    "published_widths",
    "HoldCurveFit",
    "LawFit",
    "counting_ratio",
    "fit_hold_curve",
    "fit_log_linear",
    "CriticalWidth",
    "CRITERIA",
    "flow_drift_radius",
    "flow_envelope",
    # Du, Lee, Li, Wang & Zhai (2019): deep fully-connected nets and ResNets
    "DeepNet",
    "DeepParams",
    "init_deep",
    "deep_kernels",
    "DeepKernels",
    "gram_infinity_deep",
    "lambda_zero_deep",
    "gram_deep",
    "train_deep",
    "DeepTrainResult",
    "DeepHistory",
    "deep_theorem_monitor",
    "DeepTheoremMonitor",
    "required_width_deep",
    "step_size_deep",
    # regimes: the two-layer family, gradient flow, the catapult, lazy vs rich
    "TwoLayerFamily",
    "init_family",
    "gram_infinity_family",
    "gram_infinity_family_mc",
    "lambda_zero_family",
    "MonteCarloGram",
    "train_family",
    "train_family_batched",
    "FamilyRun",
    "KernelRecord",
    "gradient_flow",
    "FlowResult",
    "flow_monitor",
    "gd_flow_distance",
    "FlowConvergence",
    "phase_grid",
    "phase_boundaries",
    "classify_runs",
    "tangent_sharpness",
    "REGIMES",
    "PhaseGrid",
    "Boundaries",
    "Boundary",
    "Thresholds",
    "laziness",
    "Laziness",
    # Arora et al. (2019)
    "eigen_projections",
    "predicted_residual",
    "kernel_prediction",
    "kernel_spectrum",
    "KernelSpectrum",
    "generalization_bound",
    "EigenProjections",
    # NTK (Jacot et al. 2018; Lee et al. 2019)
    "empirical_ntk",
    "infinite_width_kernels",
    "infinite_width_ntk",
    "infinite_width_nngp",
    "InfiniteWidthKernels",
    "linearize",
    "linear_dynamics",
    "LinearDynamics",
    # landscape
    "convexity_certificate",
    "Certificate",
    "CertificateSearch",
    "slice_1d",
    "interpolate",
    "filter_normalized_directions",
    "loss_surface_2d",
    "fit_bezier",
    "BezierFit",
    "bezier_point",
    "path_barrier",
    "Barrier",
    "sigmoid_mlp_example",
    "deep_linear_example",
    "permutation_example",
    "least_squares_loss",
    "logistic_loss",
    # curvature
    "hvp",
    "top_eigenvalues",
    "bottom_eigenvalues",
    "hutchinson_trace",
    "TraceEstimate",
    "spectral_density",
    "SpectralDensity",
    "dense_hessian",
    "hessian_spectrum",
    "hessian_index",
    # saddles
    "find_critical_point",
    "CriticalPoint",
    "escape_saddle",
    # stability
    "layer_statistics",
    "LayerStatistics",
    "predicted_variances",
    "growth_factor",
    "sharpness_trajectory",
    "edge_of_stability_step",
    "descent_lemma_violations",
    "largest_stable_step",
    "quadratic_gd_rate",
    "measured_rate",
    # pruning
    "lottery_ticket",
    "Ticket",
    "magnitude_mask",
    "sparsity",
    # fits
    "loglog_slope",
    "SlopeFit",
]

__version__ = "0.1.0"
