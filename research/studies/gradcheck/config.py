"""python -m experiments.run --config configs/gradcheck.py --workdir runs/gradcheck

Note 001's gradient check done as an experiment: hand backprop against two-sided differences for
eps from 1e-1 to 1e-10, float32 and float64, a 10-16-12-10 sigmoid net (510 parameters) on 16
N(0,1) inputs with the K-class logistic cost and L2, 16 seeds. It should draw the V (truncation ~ eps^2, round-off ~ 1/eps), put float64's best eps near
1e-5 to 1e-6 with errors far below 1e-7, and show float32 never reaching 1e-7.

Margins (``params.margins``, fixed here before any run; see MARGINS), each tested on a 95% CI over
seeds: the notes' eps = 1e-4 is "near the best" if the whole CI of log10(best eps) lies within
``best_eps_decades`` (2, a factor 100) of -4; float64 "passes" if the best relative error's CI is
below ``f64_error_max`` (1e-7, the notes' pass level); float32 "never passes" if its CI is above
``f32_error_min`` (1e-7, the same level). A seed whose errors are not all finite has no best eps or
error: it is left out of all three and counted (``n_diverged``). The values are the ones the study
code held before they moved here, unchanged.
"""

from research.engine.config import defaults

# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "best_eps_decades": 2.0,  # best_eps_f64: CI of log10(best eps) within this many decades of log10(1e-4)
    "f64_error_max": 1e-7,    # min_error_f64: CI of the best float64 relative error below this
    "f32_error_min": 1e-7,    # min_error_f32: CI of the best float32 relative error above this
}


def get_config():
    c = defaults()
    c.study = "gradcheck"
    c.seeds = 16
    c.data.update({"name": "gaussian", "n": 16, "dim": 10})
    c.model.update({"hidden": (16, 12)})
    c.train.update({"loss": "sigmoid_ce", "l2": 0.01})
    c.params = {"margins": dict(MARGINS)}
    c.arms = {"sigmoid": {"model": {"activation": "sigmoid", "weight_init": "xavier_normal", "bias_init": "normal",
                                    "weight_init_kwargs": {}}}}
    return c
