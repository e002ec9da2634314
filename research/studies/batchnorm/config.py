"""python -m experiments.run --config configs/batchnorm.py --workdir runs/batchnorm

Ioffe & Szegedy 2015's MNIST experiment as notes 002-003 describe it: 3 hidden layers of 100
sigmoid units, batch 60, plain SGD, Xavier init, on the bundled MNIST 5k subset; 32 seeds, paired
by seed, four arms: no BN and BN at the base rate, and both again at 5x the rate. It should show BN
reaching the target accuracy in fewer steps, BN's final accuracy no worse than without it, a
last-hidden-layer unit's input distribution steadier with BN, BN training at 5x the rate where the
plain net does not (the paper's "higher learning rates" claim needs both halves: BN still trains at
5x, and the plain net at 5x does not, else the larger rate says nothing about BN), and a BN step
costing more time than a plain one (note 003).

Margins (``params.margins``, fixed here before any run of this design; see MARGINS; the claims print
them). faster, stable_inputs, step_cost: the ratio's 95% CI lower end must be above the
``*_min_ratio`` entry, 1 (no effect).

final_accuracy and the first half of higher_lr are non-inferiority statements: the paired-by-seed
difference's 95% CI must have ``ci_low >= -delta`` (never ``ci_high >= 0``, which only says "not
shown to be worse" and holds for any noisy enough comparison). final_accuracy: BN - no BN, both at
the base rate, ``final_accuracy_delta``; higher_lr: BN at 5x - BN at the base rate,
``higher_lr_delta``. Both deltas are 0.01 accuracy: one percentage point, 5 of the 500 validation
images. Rationale: the paper's claim is that BN matches the baseline's accuracy (Figure 1(a)), so
the margin must be small next to the accuracies compared (~0.9) and to the effect the other half
of higher_lr must show (below), yet above the resolution of one split (0.002 per image) so that a
tie is not a coin flip. Chosen before running this design; the numbers of the previous design
(README: BN - no BN -0.014 +- 0.006) were known, and 0.01 was not moved to make them pass.

The second half of higher_lr (the control): no BN at 5x - no BN at the base rate must be clearly
negative, its CI's *upper* end at or below ``-higher_lr_control_drop`` (0.05, five deltas: "does
not train" must be a larger effect than the margin "no worse" allows). A diverged seed counts at
chance accuracy in every difference (research/engine/claims.py ``final``), so a control that
diverges is worse by construction; a BN-at-5x seed that diverges counts against BN the same way.
What the control will show was not unknown: the no-BN rate sweep below saw 8.0 stuck at 0.149.

Measured, this design's first run (32 seeds, 62 s on 2 cores): final_accuracy BN - no BN
-0.014 +- 0.006, does not hold (no BN at its tuned rate ends higher on this subset); higher_lr
BN at 5x - BN +0.003 [-0.002, 0.009] and no BN at 5x - no BN -0.809 +- 0.016 (stuck near chance,
none diverged), holds.

Left for later (issue 14): the paper's own regime, N(0, 0.01) weights (their "small random
Gaussian values") and ~50,000 steps rather than 600, and each arm's rate tuned on separate seeds
(here only no BN's rate was tuned; BN runs at it and at 5x it). 50k steps x 4 arms x 32 seeds is
about 80x this run (~1 min on 2 cores), far past the budget of a default run; the 5k subset also
caps both nets near the same accuracy, so a full-size data set belongs with that change.

step_cost (a check, not a finding) times the two compiled programs, one per BN setting; the 5x arms
share their setting's program, so each group now holds 64 runs (before the control, the no-BN group
held 32). Wall-clock ratios on a shared 2-core machine move between runs (1.56 in the README's run,
1.09-1.15 in this design's first runs); it is reported, not tuned.
"""

from research.engine.config import defaults

# Plain SGD's rate for the sigmoid net without BN, chosen on validation (4 seeds, 8 epochs) from
# {0.1, 0.5, 1, 2, 4, 8}: 2.0 gave 0.928 (1.0: 0.923, 4.0: 0.897, 8.0: 0.149, stuck).
LR = 2.0
FAST = 5  # the larger rate, as a multiple of LR (both with and without BN)
# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "faster_min_ratio": 1.0,         # faster: CI lower end of steps-to-target ratio (no BN / BN) above this
    "final_accuracy_delta": 0.01,    # final_accuracy: non-inferiority, CI lower end of BN - no BN >= -this
    "stable_min_ratio": 1.0,         # stable_inputs: CI lower end of drift ratio (no BN / BN) above this
    "higher_lr_delta": 0.01,         # higher_lr: non-inferiority, CI lower end of BN at 5x - BN >= -this
    "higher_lr_control_drop": 0.05,  # higher_lr: CI upper end of no BN at 5x - no BN <= -this
    "step_cost_min_ratio": 1.0,      # step_cost: CI lower end of step time ratio (BN / no BN) above this
}


def get_config():
    c = defaults()
    c.study = "batchnorm"
    c.seeds = 32
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (100, 100, 100), "activation": "sigmoid", "weight_init": "xavier_normal"})
    c.train.update({"optimizer": "sgd", "lr": LR, "epochs": 8, "batch_size": 60, "evals_per_epoch": 4})
    c.train.optimizer_kwargs = {}
    c.eval.update({"target_accuracy": 0.85, "hist_seeds": 2})
    c.params = {"margins": dict(MARGINS)}
    c.arms = {"no_bn": {"model": {"batchnorm": False}},
              "bn": {"model": {"batchnorm": True}},
              "bn_lr_x5": {"model": {"batchnorm": True}, "train": {"lr": FAST * LR}},
              "no_bn_lr_x5": {"model": {"batchnorm": False}, "train": {"lr": FAST * LR}}}
    return c
