"""python -m experiments.run --config configs/batchnorm.py --workdir runs/batchnorm

Ioffe & Szegedy 2015's MNIST experiment as notes 002-003 describe it: 3 hidden layers of 100
sigmoid units, batch 60, plain SGD, Xavier init, on the bundled MNIST 5k subset; no BN vs BN at the
same rate vs BN at a 5x larger rate; 32 seeds, paired by seed. It should show BN reaching the
target accuracy in fewer steps, a last-hidden-layer unit's input distribution steadier with BN,
BN training at the larger rate, and a BN step costing more time than a plain one (note 003).
"""

from research.engine.config import defaults

# Plain SGD's rate for the sigmoid net without BN, chosen on validation (4 seeds, 8 epochs) from
# {0.1, 0.5, 1, 2, 4, 8}: 2.0 gave 0.928 (1.0: 0.923, 4.0: 0.897, 8.0: 0.149, stuck).
LR = 2.0


def get_config():
    c = defaults()
    c.study = "batchnorm"
    c.seeds = 32
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (100, 100, 100), "activation": "sigmoid", "weight_init": "xavier_normal"})
    c.train.update({"optimizer": "sgd", "lr": LR, "epochs": 8, "batch_size": 60, "evals_per_epoch": 4})
    c.train.optimizer_kwargs = {}
    c.eval.update({"target_accuracy": 0.85, "hist_seeds": 2})
    c.arms = {"no_bn": {"model": {"batchnorm": False}},
              "bn": {"model": {"batchnorm": True}},
              "bn_lr_x5": {"model": {"batchnorm": True}, "train": {"lr": 5 * LR}}}
    return c
