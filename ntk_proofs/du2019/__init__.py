"""Du, Zhai, Poczos & Singh (ICLR 2019), "Gradient Descent Provably Optimizes Over-parameterized Neural Networks".

- ``gram``: the Gram matrices H^inf (eq. (6)) and H(k) (eq. (5)), and the incremental update of H(k).
- ``training``: ``train_gd``, GD with the quantities of Theorem 4.1 recorded along the run (on ``ntk_proofs.gd``).
- ``certificate``: the proof of (C2) at every step: Cholesky where needed, Weyl's inequality in between.
- ``bounds``: lambda_0, the theorem's rate, R', step size and width, and the monitor of (C1)-(C3).
- ``sweep``: many runs at once, batched over seeds and sharded over devices.
- ``critical_width``: the smallest width at which a conclusion holds on a fraction 1 - delta of initializations.
- ``width_law``: m* as a scaling law: the logistic hold-curve estimate, log-linear fits with a two-level bootstrap.
- ``published_widths``: the published width requirements, each with its theorem, conditions and source.
"""
