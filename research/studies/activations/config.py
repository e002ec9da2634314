"""python -m experiments.run --config configs/activations.py --workdir runs/activations

Note 004's figure (CS231n's experiment): a 10-layer net of 500 units, inputs N(0,1) of shape
1000x500, no training, tanh and relu, inits 0.01*randn, N(0,1), Xavier and He; 32 seeds. It should
show tanh activations collapsing to 0 under small random init and saturating at +-1 under N(0,1),
Xavier keeping tanh spread, ReLU's E[h^2] halving per layer under Xavier and staying level under He.

Margins (``params.margins``, fixed here before any run; see MARGINS), each tested on a 95% CI over
seeds: small random init "collapses" if the last layer's std is below ``collapse_std_max`` (1e-3);
N(0,1) init "saturates" if in every layer the fraction of |h| > 0.99 is above ``saturation_min``
(0.5; the layer with the lowest CI lower end decides); Xavier keeps tanh "spread" if the last
layer's std is within [``tanh_std_min``, ``tanh_std_max``] = [0.1, 0.9]; ReLU under Xavier
"halves" if the geometric-mean per-layer ratio of E[h^2] is within [``relu_halves_min``,
``relu_halves_max``] = [0.4, 0.6]; He keeps ReLU "stable" if the last/first E[h^2] ratio is within
[``relu_stable_min``, ``relu_stable_max``] = [0.5, 2]. The values are the ones the study code held
before they moved here, unchanged.
"""

from research.engine.config import defaults

# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "collapse_std_max": 1e-3,  # small_random.collapse: last-layer std below this
    "saturation_min": 0.5,     # unit_normal.saturation: saturated fraction above this in every layer
    "tanh_std_min": 0.1,       # xavier.tanh_healthy: last-layer std within [min, max]
    "tanh_std_max": 0.9,
    "relu_halves_min": 0.4,    # xavier.relu_halves: geometric-mean per-layer E[h^2] ratio within [min, max]
    "relu_halves_max": 0.6,
    "relu_stable_min": 0.5,    # he.relu_stable: last/first layer E[h^2] ratio within [min, max]
    "relu_stable_max": 2.0,
}


def default_arms() -> dict:
    inits = {"small_random": {}, "normal": {"stddev": 1.0}, "xavier_normal": {}, "he_normal": {}}
    return {f"{act}-{init}": {"model": {"activation": act, "weight_init": init, "weight_init_kwargs": kw}}
            for act in ("tanh", "relu") for init, kw in inits.items()}


def get_config():
    c = defaults()
    c.study = "activations"
    c.seeds = 32
    c.data.update({"name": "gaussian", "n": 1000, "dim": 500})
    c.model.update({"hidden": (500,) * 10})
    c.eval.hist_seeds = 4
    c.params = {"margins": dict(MARGINS)}
    c.arms = default_arms()
    return c
