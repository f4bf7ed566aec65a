"""ntk_proofs: check the theory of neural-network optimization against experiment, in JAX.

The public API, name by name. Anything not listed here is private.
"""

from ntk_proofs.bounds import MonitorCheck
from ntk_proofs.bounds import TheoremMonitor
from ntk_proofs.bounds import check_upper_bound
from ntk_proofs.bounds import drift_radius
from ntk_proofs.bounds import empirical_rate
from ntk_proofs.bounds import lambda_zero
from ntk_proofs.bounds import linear_rate_envelope
from ntk_proofs.bounds import max_step_size
from ntk_proofs.bounds import perturbation_radius
from ntk_proofs.bounds import required_width
from ntk_proofs.bounds import theorem_monitor
from ntk_proofs.bounds import theorem_rate
from ntk_proofs.data import AssumptionError
from ntk_proofs.data import binary_labels
from ntk_proofs.data import check_distinct_directions
from ntk_proofs.data import check_inputs
from ntk_proofs.data import corrupt_labels
from ntk_proofs.data import gaussian_labels
from ntk_proofs.data import load_digits_binary
from ntk_proofs.data import load_npz
from ntk_proofs.data import normalize_rows
from ntk_proofs.data import prepare_inputs
from ntk_proofs.data import train_test_split
from ntk_proofs.data import unit_sphere
from ntk_proofs.dynamics import GradientDescentDiverged
from ntk_proofs.dynamics import TrainHistory
from ntk_proofs.dynamics import TrainResult
from ntk_proofs.dynamics import Trajectory
from ntk_proofs.dynamics import gd_trajectory
from ntk_proofs.dynamics import recorded_steps
from ntk_proofs.dynamics import train_gd
from ntk_proofs.fine_grained import EigenProjections
from ntk_proofs.fine_grained import eigen_projections
from ntk_proofs.fine_grained import eigh_descending
from ntk_proofs.fine_grained import generalization_bound
from ntk_proofs.fine_grained import predicted_residual
from ntk_proofs.fit import SlopeFit
from ntk_proofs.fit import loglog_slope
from ntk_proofs.gram import gram_from_pattern
from ntk_proofs.gram import gram_infinity
from ntk_proofs.gram import gram_infinity_mc
from ntk_proofs.gram import gram_matrix
from ntk_proofs.gram import lambda_max
from ntk_proofs.gram import lambda_min
from ntk_proofs.mlp import MLP
from ntk_proofs.mlp import Dense
from ntk_proofs.ntk import InfiniteWidthKernels
from ntk_proofs.ntk import LinearDynamics
from ntk_proofs.ntk import empirical_ntk
from ntk_proofs.ntk import infinite_width_kernels
from ntk_proofs.ntk import infinite_width_nngp
from ntk_proofs.ntk import infinite_width_ntk
from ntk_proofs.ntk import linear_dynamics
from ntk_proofs.ntk import linearize
from ntk_proofs.two_layer import Forward
from ntk_proofs.two_layer import Params
from ntk_proofs.two_layer import activation_pattern
from ntk_proofs.two_layer import forward
from ntk_proofs.two_layer import gradient_from_forward
from ntk_proofs.two_layer import init_params
from ntk_proofs.two_layer import loss
from ntk_proofs.two_layer import loss_gradient
from ntk_proofs.two_layer import predict

__version__ = "0.1.0"
