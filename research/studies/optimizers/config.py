"""python -m experiments.run --config configs/optimizers.py --workdir runs/optimizers

Note 003's update rules compared: SGD, Momentum (the notes' v = a*v + lr*g), Nesterov, AdaGrad,
RMSProp and Adam, as trajectories on an ill-conditioned quadratic and on the Rosenbrock function
(17 rates each, the best per start), and on MNIST (784-100-100-10 ReLU, He init, 3 epochs, 16 seeds)
from a small rate grid per rule run as one vmapped program, each rule at its best validation rate.
It should show momentum reaching the quadratic's minimum in fewer steps than SGD and ending the
MNIST budget at a lower training loss.

Margins (``params.margins``, fixed here before any run; see MARGINS): the quadratic's step ratio
(SGD / momentum) holds if its 95% CI's lower end is above ``quadratic_min_ratio`` (1, no effect);
the MNIST training-loss gap (SGD - momentum) if its CI's lower end is above ``mnist_min_loss_gap``
(0, no effect) and no momentum run diverged. The quadratic's "reached" level, f - f* < 1e-6, is
part of the measurement (surfaces.py), not a verdict margin.
"""

from research.engine.config import defaults

# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "quadratic_min_ratio": 1.0,  # momentum_faster_quadratic: CI lower end of steps SGD / momentum above this
    "mnist_min_loss_gap": 0.0,   # momentum_beats_sgd_mnist: CI lower end of loss SGD - momentum above this
}

# Rate grids, a factor ~3 apart, placed so each rule's best validation rate is inside its grid (a
# first grid one step lower had every best at its top edge).
GRIDS = {"sgd": (0.03, 0.1, 0.3, 1.0), "momentum": (0.003, 0.01, 0.03, 0.1), "nesterov": (0.003, 0.01, 0.03, 0.1),
         "adagrad": (0.01, 0.03, 0.1, 0.3), "rmsprop": (3e-4, 1e-3, 3e-3, 1e-2), "adam": (3e-4, 1e-3, 3e-3, 1e-2)}


def get_config():
    c = defaults()
    c.study = "optimizers"
    c.seeds = 16
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (100, 100), "activation": "relu", "weight_init": "he_normal"})
    c.train.update({"epochs": 3, "batch_size": 64, "evals_per_epoch": 4})
    c.eval.update({"target_accuracy": 0.9, "hist_seeds": 0})
    c.params = {"margins": dict(MARGINS)}
    c.arms = {f"{rule}-lr{lr:g}".replace(".", "p"): {"train": {"optimizer": rule, "lr": lr,
                                             "optimizer_kwargs": {"alpha": 0.9} if rule in ("momentum", "nesterov") else {}}}
              for rule, lrs in GRIDS.items() for lr in lrs}
    return c
