"""The published width requirements for a two-layer network trained to zero loss, each in its own variables.

Every entry says where the statement comes from and how sure the transcription is (``source``):

- "paper": read in a copy of the paper's own text;
- "abstract": read in the paper's abstract only (the theorem's exact form, logarithms and constants not seen);
- "secondary": the paper's own text was not found; the statement is as another paper cites it;
- "derived": an elementary argument given here, not a published theorem.

``width(n, d, lambda0)`` evaluates each requirement with its constants and logarithms dropped (the papers leave
them unspecified, or the transcription could not pin them down). Comparing an exponent is meaningful; comparing a
value only up to that unknown constant. Where a statement is in the number of parameters (m d), the width is that
number over d.

The list records the transcription of this suite's research notes (docs/research/), not a survey's. Song & Yang
(2019), Nguyen (2021) and Bombari et al. (2022) could not be pinned to a theorem; their rows say so.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class PublishedWidth(NamedTuple):
    """One published (or elementary) width requirement.

    Attributes:
        key: a short name for tables and JSON.
        paper: authors, title's venue and year.
        theorem: the theorem or section that states it ("not pinned" where it could not be found).
        statement: the requirement as stated.
        conditions: activation, initialization, trained layers, data and step-size assumptions.
        exponent_n: the exponent in n at fixed d and lambda_0 (None: not established at fixed d).
        source: "paper", "abstract", "secondary" or "derived" (module doc).
        sufficient: True for a sufficient width (the theorem's), False for a necessary one (the counting bound).
        width: (n, d, lambda0) -> the requirement with constants and logarithms dropped (arrays broadcast).
    """

    key: str
    paper: str
    theorem: str
    statement: str
    conditions: str
    exponent_n: float | None
    source: str
    sufficient: bool
    width: Callable


PUBLISHED_WIDTHS: tuple[PublishedWidth, ...] = (
    PublishedWidth(
        "du2019",
        "Du, Zhai, Poczos & Singh, ICLR 2019 (arXiv 1810.02054)",
        "Theorem 3.2 (gradient flow) and Theorem 4.1 (GD)",
        "m = Omega(n^6 / (lambda_0^4 delta^3)); GD step eta = O(lambda_0 / n^2)",
        "ReLU; w_r(0) ~ N(0, I), a_r ~ unif{-1, +1} fixed, only W trained; ||x_i|| = 1, |y_i| <= C; "
        "lambda_0 = lambda_min(H^inf) > 0 (Theorem 3.1: no two inputs parallel)",
        6.0,
        "paper",
        True,
        lambda n, d, lambda0: np.asarray(n, float) ** 6 / np.asarray(lambda0, float) ** 4,
    ),
    PublishedWidth(
        "song_yang2019",
        "Song & Yang, arXiv 1906.03593 (2019)",
        "not pinned",
        "Omega(n^2) width (as cited by Song et al. 2021, Table 1; the theorem was not found)",
        "ReLU, first layer trained, GD, non-parallel data (as cited)",
        2.0,
        "secondary",
        True,
        lambda n, d, lambda0: np.asarray(n, float) ** 2,
    ),
    PublishedWidth(
        "oymak2020",
        "Oymak & Soltanolkotabi, IEEE JSAIT 2020 (arXiv 1902.04674)",
        "Theorem 2.1 (smooth activations; number as cited by Song et al. 2021)",
        "sqrt(m d) >~ n: 'as soon as the square-root of the number of network parameters exceeds the size of the "
        "training data' (abstract), i.e. m >~ n^2 / d",
        "smooth activations (ReLU also covered, its bound not pinned); random init; (S)GD on the first layer only",
        2.0,
        "abstract",
        True,
        lambda n, d, lambda0: np.asarray(n, float) ** 2 / np.asarray(d, float),
    ),
    PublishedWidth(
        "song2021",
        "Song, Ramezani-Kebrya, Pethick, Eftekhari & Cevher, NeurIPS 2021 (arXiv 2111.01875)",
        "Theorem 3, eq. (20); its order analysis eq. (21)",
        "m = Omega~(xi sigma_max(X)^2 sqrt(n) / sigma_min(X^{*t})^3); with n ~ d^t, t >= 2: m >~ n^{3/2} / d",
        "smooth activation (twice differentiable, phi(0) = 0; excludes ReLU); both layers trained; Gaussian init "
        "with omega_1 omega_2 <~ 1/sqrt(d m); ||x_i|| = 1. Read in the submission version, not the camera-ready",
        None,
        "paper",
        True,
        lambda n, d, lambda0: np.asarray(n, float) ** 1.5 / np.asarray(d, float),
    ),
    PublishedWidth(
        "montanari2022",
        "Montanari & Zhong, Annals of Statistics 2022 (arXiv 2007.12826)",
        "not pinned (main result on the empirical NT kernel's eigenstructure)",
        "lambda_min of the empirical NT kernel bounded away from 0 'as soon as N d >> n' (abstract), i.e. m >> n / d",
        "two-layer net in the NT (lazy) regime; isotropic covariates; n and d large and polynomially related. "
        "An eigenvalue result, not a GD theorem",
        1.0,
        "abstract",
        True,
        lambda n, d, lambda0: np.asarray(n, float) / np.asarray(d, float),
    ),
    PublishedWidth(
        "daniely2020",
        "Daniely, NeurIPS 2020 (arXiv 1911.09873)",
        "not pinned",
        "SGD on a depth-two net with O~(n / d) hidden neurons memorizes n random labelled points on S^{d-1} (abstract)",
        "random points and labels; SGD; a variant of Xavier init (as cited by Song et al. 2021); memorization may "
        "mean classification, not zero squared loss",
        1.0,
        "abstract",
        True,
        lambda n, d, lambda0: np.asarray(n, float) / np.asarray(d, float),
    ),
    PublishedWidth(
        "nguyen2021",
        "Nguyen, ICML 2021 (arXiv 2101.09612)",
        "not pinned",
        "one wide layer of linear, quadratic or cubic width in n, depending on the initialization (abstract)",
        "deep ReLU nets, all layers trained, standard parameterization; whether depth 2 is covered was not pinned",
        None,
        "abstract",
        True,
        lambda n, d, lambda0: np.asarray(n, float),
    ),
    PublishedWidth(
        "bombari2022",
        "Bombari, Amani & Mondelli, NeurIPS 2022 (arXiv 2205.10217)",
        "not pinned",
        "smallest NTK eigenvalue bounded below once the number of parameters is Omega~(n), neurons as few as "
        "Omega~(sqrt(n)) (abstract)",
        "deep networks (two consecutive hidden layers); the two-layer analogue was not pinned",
        None,
        "abstract",
        True,
        lambda n, d, lambda0: np.asarray(n, float) / np.asarray(d, float),
    ),
    PublishedWidth(
        "counting",
        "the counting bound (elementary)",
        "H(0) = J J^T with J of size n x md",
        "m d >= n: rank H(0) <= md, so lambda_min(H(0)) > 0 needs m >= n / d",
        "any activation and initialization, W trained (m (d + 1) >= n when a is trained too). Necessary, not "
        "sufficient",
        1.0,
        "derived",
        False,
        lambda n, d, lambda0: np.asarray(n, float) / np.asarray(d, float),
    ),
)


def published_widths(n, d, lambda0) -> dict[str, np.ndarray]:
    """Every entry of ``PUBLISHED_WIDTHS`` evaluated at (n, d, lambda_0), constants and logarithms dropped; the three
    broadcast to one shape, so every entry has it whichever variables it uses."""
    n, d, lambda0 = np.broadcast_arrays(*(np.asarray(v, float) for v in (n, d, lambda0)))
    return {p.key: p.width(n, d, lambda0) for p in PUBLISHED_WIDTHS}
