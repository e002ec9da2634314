"""python -m experiments.run --config configs/hparam_search.py --workdir runs/hparam_search

Note 002's rule done structurally: a grid of learning rate x L2 coefficient x weight-init scale
(4 x 3 x 3 = 36 settings, 16 seeds each) for a 784-100-100-10 ReLU net (momentum 0.9, the
engine's default; batch 64), trained as one vmapped program (all three are traced per run); the
setting with the best validation accuracy is chosen, at run time on the data read, and only it is
evaluated on the test split, once. It should show the validation surface as heatmaps, the chosen
setting, a single counted test evaluation and a small validation-test gap.

Data (``data.name``): ``fashion_mnist_or_mnist5k``, Fashion-MNIST (59,500 training images, 500
held out for validation, the official 10,000 test images) where the Debian package
``dataset-fashion-mnist`` is installed, else the bundled MNIST 5k subset (4,000 / 500 / 500); the
report's first line says which was read. The claim compares the chosen setting's validation accuracy
with its test accuracy: on the subset the test split is 500 images carved from the same 5,000, on
Fashion-MNIST it is the data set's own 10,000-image test set, so the gap is measured against a test
estimate 20x tighter.

Budget (``train.max_steps`` 1,000, ``train.epochs`` 3 a cap, 2 evaluations per epoch). On
Fashion-MNIST (929 steps per epoch) max_steps binds: 928 steps (2 evaluations, one epoch: 59,400
images, 5x the 5k regime's 186 steps). On the 5k subset the 3-epoch cap binds: 186 steps, the
previous design's regime. Sized so that the default run on Fashion-MNIST takes at most about 12
minutes on a 2-core CPU shared with another job: 576 runs x 928 steps is 535k seed-steps (~2,000
seed-steps/s measured on a lightly shared machine; a third of that while the other job runs a test
suite would be ~13 minutes). A first run at max_steps 600 (464 steps, half an epoch) took 2.5
minutes, so the budget was doubled to one epoch before the run reported below; the claim is about
the gap between validation and test accuracy of the chosen setting, not about the accuracy a longer
budget would reach.

Margins (``params.margins``, fixed here before any run; see MARGINS): the chosen setting's
validation - test accuracy gap is "small" if its 95% CI lies within +-``val_test_gap_max`` (0.03,
15 of the 500 test digits; for scale, one run's binomial standard error on 500 images at 90%
accuracy is sqrt(.9 * .1 / 500) = 0.013). Not moved for Fashion-MNIST: its scale is set by the
500-image validation split, the same on both sources, and by an accuracy near 0.85-0.9 on both
(sqrt(.87 * .13 / 500) = 0.015 there), so the same number means the same thing.

Accuracy target (``params.targets``, the arm table's "steps to target" column only; no claim uses
it), per data source, fixed here before any Fashion-MNIST run: 0.9 on the 5k subset (the previous
design's), 0.85 on Fashion-MNIST, where this MLP tops out near 0.88-0.89.

Measured on Fashion-MNIST, the default config above (16 seeds, 928 steps; 284 s of compute, 4 min 53 s
wall on 2 cores lightly shared with another engineer's work, ~1,900 seed-steps/s). Chosen on
validation: lr 0.01, L2 1e-4, init scale 1 (inside the grid on every axis; validation 0.863, the
runners-up at 0.862); test, opened once: 0.847. val_test_gap +0.016 [+0.012, +0.021], holds (n 16,
none diverged; 4 of the 576 runs diverged, all at lr 0.1 and init scale 2); on the 5k subset it was
+0.009 [+0.004, +0.014]. test_once holds. The earlier run at max_steps 600 (464 steps, 2 min 29 s)
chose the same setting (validation 0.848, test 0.833) and measured +0.015 +- 0.004.

Split resampling (``data.split_seeds`` = SPLITS = 16, the default since the run above): seed s is
trained, validated and tested on the split of ``split_seed + s``, so the gap's interval includes the
split's variation, not only the seeds' (on Fashion-MNIST the validation images are resampled and
the official test set is every split's; on the subset both are). Measured on Fashion-MNIST with it
(the default config; 4 min 57 s wall, 2 cores, quiet but for a helper's report): the same setting
chosen (lr 0.01, L2 1e-4, scale 1; validation 0.854, the runners-up at 0.8538), test 0.843;
val_test_gap +0.011 [+0.004, +0.018], holds; 4 runs diverged, as before. The interval is wider
than on one split (+-0.005 then), which is what resampling is for.
"""

from research.engine.config import defaults

SPLITS = 16  # resampled data splits, one per claim seed (data.split_seeds)

LRS = (0.003, 0.01, 0.03, 0.1)
L2S = (0.0, 1e-4, 1e-3)
SCALES = (0.5, 1.0, 2.0)
# The arm table's accuracy target per data source (Dataset.source), fixed before any run on it.
TARGETS = {"mnist5k": 0.9, "fashion_mnist": 0.85}
STEPS = 1000  # train.max_steps: binds on Fashion-MNIST (928 steps); the 3-epoch cap binds on the 5k subset
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
    # split resampling: seed s on the split of split_seed + s mod SPLITS, so the claims' intervals over
    # seeds include the split (the test accuracy is a generalization claim); see the docstring
    c.data.update({"name": "fashion_mnist_or_mnist5k", "n_val": 500, "n_test": 500, "split_seeds": SPLITS})
    c.model.update({"hidden": (100, 100), "activation": "relu", "weight_init": "he_normal"})
    c.train.update({"epochs": 3, "max_steps": STEPS, "batch_size": 64, "evals_per_epoch": 2})
    c.eval.update({"target_accuracy": 0.9, "hist_seeds": 0})
    c.params = {"margins": dict(MARGINS), "targets": dict(TARGETS)}
    c.arms = {name(lr, l2, s): {"train": {"lr": lr, "l2": l2, "init_scale": s}}
              for lr in LRS for l2 in L2S for s in SCALES}
    return c
