"""python -m experiments.run --config configs/hparam_search.py --workdir runs/hparam_search

Note 002's rule done structurally: a grid of learning rate x L2 coefficient x weight-init scale
(4 x 3 x 3 = 36 settings, 16 seeds each) for a 784-100-100-10 ReLU net on the bundled MNIST 5k
subset, trained as one vmapped program (all three are traced per run); the setting with the best
validation accuracy is chosen, and only it is evaluated on the test split, once. It should show
the validation surface as heatmaps, the chosen setting, a single counted test evaluation and a
small validation-test gap.

Margins (``params.margins``, fixed here before any run; see MARGINS): the chosen setting's
validation - test accuracy gap is "small" if its 95% CI lies within +-``val_test_gap_max`` (0.03,
15 of the 500 test digits; for scale, one run's binomial standard error on 500 digits at 90%
accuracy is sqrt(.9 * .1 / 500) = 0.013).
"""

from research.engine.config import defaults

LRS = (0.003, 0.01, 0.03, 0.1)
L2S = (0.0, 1e-4, 1e-3)
SCALES = (0.5, 1.0, 2.0)
# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "val_test_gap_max": 0.03,  # val_test_gap: CI of val - test accuracy within +- this
}


def name(lr, l2, scale) -> str:
    return f"lr{lr:g}-wd{l2:g}-s{scale:g}".replace(".", "p")  # wd: the L2 coefficient


def get_config():
    c = defaults()
    c.study = "hparam_search"
    c.seeds = 16
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (100, 100), "activation": "relu", "weight_init": "he_normal"})
    c.train.update({"epochs": 3, "batch_size": 64, "evals_per_epoch": 2})
    c.eval.update({"target_accuracy": 0.9, "hist_seeds": 0})
    c.params = {"margins": dict(MARGINS)}
    c.arms = {name(lr, l2, s): {"train": {"lr": lr, "l2": l2, "init_scale": s}}
              for lr in LRS for l2 in L2S for s in SCALES}
    return c
