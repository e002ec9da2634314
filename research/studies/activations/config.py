"""python -m experiments.run --config configs/activations.py --workdir runs/activations

Note 004's figure (CS231n's experiment): a 10-layer net of 500 units, inputs N(0,1) of shape
1000x500, no training, tanh and relu, inits 0.01*randn, N(0,1), Xavier and He; 32 seeds. It should
show tanh activations collapsing to 0 under small random init and saturating at +-1 under N(0,1),
Xavier keeping tanh spread, ReLU's E[h^2] halving per layer under Xavier and staying level under He.
"""

from research.engine.config import defaults
from research.studies.activations.study import default_arms


def get_config():
    c = defaults()
    c.study = "activations"
    c.seeds = 32
    c.data.update({"name": "gaussian", "n": 1000, "dim": 500})
    c.model.update({"hidden": (500,) * 10})
    c.eval.hist_seeds = 4
    c.arms = default_arms()
    return c
