"""python -m experiments.run --config configs/signal_theory.py --workdir runs/signal_theory

Poole et al. 2016 and Schoenholz et al. 2017 at initialization, no training: random nets of 40 layers
of 1000 units (weights N(0, sigma_w2/n), biases N(0, sigma_b2 = 0.05)), tanh and relu, 32 seeds,
measured beside the mean-field theory (Gauss-Hermite quadrature). It should show the measured
per-layer E[h^2] on the length map's curves (tanh converging to q* within a few layers; relu growing
or shrinking by sigma_w2/2 per layer), the measured growth of an infinitesimal perturbation crossing
1 at the theory's order-to-chaos boundary (tanh: sigma_w2 about 1.76; relu: exactly 2), the measured
correlations of input pairs on the correlation map and decaying to c* with the predicted depth scale
xi_c = -1/ln chi_c (which diverges at the boundary), and the (sigma_w2, sigma_b2) phase diagram.

Margins (``params.margins``, fixed here before any run; see MARGINS; the claims print them). The
length map's largest relative error holds if its 95% CI is below max(``length_tol_floor``,
sqrt(2/n)) for the narrowest width n: 5%, or one net's relative spread of E[h^2] where that is
larger (4.5% at n = 1000). The measured order-to-chaos boundary holds if its CI lies within
``critical_rel_tol`` (2%) of the theory's, and every seed's chi1 crosses 1 inside critical_grid
(a seed that does not has its boundary outside the grid: it counts against the claim). The values
are the ones the study code held before they moved here, unchanged.
"""

from research.engine.config import defaults

# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "length_tol_floor": 0.05,  # length_map_error: tolerance max(this, sqrt(2 / narrowest width))
    "critical_rel_tol": 0.02,  # critical_sigma_w2: CI within this relative distance of the theory
}


def get_config():
    c = defaults()
    c.study = "signal_theory"
    c.seeds = 32
    c.data.update({"name": "gaussian", "dim": 1000})  # the input width n_0; inputs are drawn per seed
    c.model.update({"hidden": (1000,) * 40})
    c.params = {
        "sigma_b2": 0.05,
        "length_sigma_w2": (1.0, 2.0, 3.0, 4.0),
        "input_q0": (0.25, 1.0, 4.0),
        "inputs_per_group": 8,
        "critical_grid": (1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2),
        "tangents": 8,
        "corr_sigma_w2": (1.0, 1.3, 2.5, 4.0),
        "corr_c0": (0.0, 0.5, 0.9, 0.99),
        "pair_replicates": 8,
        "corr_floor": 0.02,
        "quad_points": 100,
        "phase_points": 32,
        "margins": dict(MARGINS),
    }
    c.arms = {"tanh": {"model": {"activation": "tanh"}}, "relu": {"model": {"activation": "relu"}}}
    return c
