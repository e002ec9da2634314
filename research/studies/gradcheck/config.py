"""python -m experiments.run --config configs/gradcheck.py --workdir runs/gradcheck

Note 001's gradient check done as an experiment: hand backprop against two-sided differences for
eps from 1e-1 to 1e-10, float32 and float64, a 10-16-12-10 sigmoid net (510 parameters) on 16
N(0,1) inputs with the K-class logistic cost and L2, 16 seeds. It should draw the V (truncation ~ eps^2, round-off ~ 1/eps), put float64's best eps near
1e-5 to 1e-6 with errors far below 1e-7, and show float32 never reaching 1e-7.
"""

from research.engine.config import defaults


def get_config():
    c = defaults()
    c.study = "gradcheck"
    c.seeds = 16
    c.data.update({"name": "gaussian", "n": 16, "dim": 10})
    c.model.update({"hidden": (16, 12)})
    c.train.update({"loss": "sigmoid_ce", "l2": 0.01})
    c.arms = {"sigmoid": {"model": {"activation": "sigmoid", "weight_init": "xavier_normal", "bias_init": "normal",
                                    "weight_init_kwargs": {}}}}
    return c
