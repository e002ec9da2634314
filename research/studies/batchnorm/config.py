"""python -m experiments.run --config configs/batchnorm.py --workdir runs/batchnorm

Ioffe & Szegedy 2015's MNIST experiment (section 4.1, Figure 1), in their regime: 3 fully-connected
hidden layers of 100 sigmoid units, a softmax output, plain SGD on minibatches of 60, weights drawn
from small random Gaussians (here N(0, 0.01^2): ``small_random``, scale 0.01, the notes' 0.01*randn),
BN (when on) before each hidden nonlinearity. Four arms, paired by seed: no BN and BN, each at its own
learning rate tuned on separate seeds (below), and both again at 5x the no-BN net's tuned rate (the
"higher learning rates" claim is about one larger rate at which BN trains and the plain net does not).
It should show BN reaching the target accuracy in fewer steps, BN's final test accuracy no worse than
without it, a last-hidden-layer unit's input distribution steadier with BN, BN training at 5x the rate
where the plain net does not, and a BN step costing more time than a plain one (note 003).

Data: ``fashion_mnist_or_mnist5k``: Fashion-MNIST (60,000 train / the official 10,000 test images)
where the Debian package ``dataset-fashion-mnist`` is installed, else the bundled MNIST 5k subset (4,000
train / 500 validation / 500 test); the report's first line says which was read. The 5k subset caps both
nets near the same accuracy, so full-size data is the better test of the accuracy claims where a machine
has it. Validation (500 images carved from the training set either way) is what tuning and the curves
see; final_accuracy and higher_lr are scored on the sealed test split, opened once per arm after
training, so the split the rates were chosen on is not the split they are judged on.

Learning rates (``params.tune_lrs``, ``tune_seeds``, ``tune_seed``, ``lr_multiples``). Each arm not
named in ``lr_multiples`` (no_bn, bn) has its rate chosen from the grid TUNE_LRS by
:func:`research.engine.claims.select_by_validation`: the highest mean final validation accuracy over
``tune_seeds`` (4) runs keyed from ``tune_seed`` (1000), not the claim run's seeds 0..15 (``seed`` 0), a
diverged tuning run counted at chance, and a rate most of whose tuning runs diverged never chosen while
another is left. The tuning runs train as long as the claim runs (the no-BN sigmoid net's best rate
depends on the horizon: at 3,000 steps 1 and 3 trained, 10 stayed at chance). The arms named in
``lr_multiples`` run at that multiple of the tuned no-BN rate (5x, as the paper's BN-x5). An empty
grid turns tuning off (every tuned arm then runs at ``train.lr``); otherwise ``train.lr`` is unused.
The grid spans 0.3..30 in half-decade steps: a pilot (2 seeds, 3,000 steps, seed 1000) had no BN at
0.1 / 0.3 / 1 / 3 / 10 / 30 end at 0.09 / 0.24 / 0.89 / 0.92 / 0.10 / 0.10 and BN at
0.93 / 0.93 / 0.93 / 0.92 / 0.94 / 0.93, so the grid brackets no BN's best and covers BN's flat range.

Steps (``train.max_steps``). The paper trained 50,000 steps; this run does not. A default run here
has a budget of ~6 minutes on a 2-core CPU (~1,250 seed-steps/s, a BN step ~1.5x a plain one): 4 arms
x 16 seeds plus 2 arms x 5 rates x 4 tuning seeds is 104 runs, so STEPS = 4,000 is what fits (training
stops at the last evaluation within it: 3,960 steps, 60 epochs of the 4,000-image subset, where the
no-BN net is past its plateau: it reaches 85% at ~1,250 steps). The paper's 50,000 would take ~70
minutes: ``--config.train.max_steps=50000`` runs it (``train.epochs`` is only a cap, 1,000 epochs:
66,000 steps of the subset, far more of Fashion-MNIST). 16 seeds (not 32) and 4 tuning seeds pay for
the tuning. On Fashion-MNIST the same 4,000 steps are 4 epochs of 59,500 images (3,960 steps for the
claim runs, 3,964 for the tuning runs: the last evaluation within the budget), so the default run
costs the same seed-steps on both data sets.

Evaluation interval (``params.eval_steps``, 66). The claim runs evaluate about every 66 steps on
either data set: ``train.evals_per_epoch`` is set at run time to (steps per epoch) // 66, at least 1,
from the training split's size (no data loaded): 1 per epoch on the 5k subset (66 steps per epoch,
the previous design's), 15 on Fashion-MNIST (991 steps per epoch, an evaluation every 66 steps).
With the config's one evaluation per epoch, Fashion-MNIST's steps-to-target could take only 4 values
(991, 1,982, 2,973, 3,964) and faster would measure the evaluation grid, not BN. The tuning runs keep
one evaluation per epoch (only their final validation accuracy is read). 0 turns this off.

Accuracy target (``params.targets``, faster's "steps to reach it", and the arm table's), per data
source (``Dataset.source``), fixed here before any Fashion-MNIST run of this study: 0.85 on the 5k
subset, the previous design's (the no-BN net reaches it at ~1,250 of 3,960 steps, 8 points below
its ~0.93), and 0.80 on Fashion-MNIST, chosen by the same rule, about 8 points below the ceiling a
3x100 MLP reaches there (~0.88; a linear classifier reaches ~0.84), so that both nets can reach it
within the budget and the claim compares speed, not whether the ceiling is touched. The previous
design's docstring anticipated 0.85 on Fashion-MNIST as "a harder test"; it was never run there, and
a target at the ceiling would make faster a test of final accuracy, which final_accuracy already is.

Margins (``params.margins``, fixed here before any run of this design; see MARGINS; the claims print
them). faster, stable_inputs, step_cost: the ratio's 95% CI lower end must be above the
``*_min_ratio`` entry, 1 (no effect).

final_accuracy and the first half of higher_lr are non-inferiority statements: the paired-by-seed
difference's 95% CI must have ``ci_low >= -delta`` (never ``ci_high >= 0``, which only says "not
shown to be worse" and holds for any noisy enough comparison). final_accuracy: BN - no BN, each at its
tuned rate, ``final_accuracy_delta``; higher_lr: BN at 5x the no-BN rate - BN at its tuned rate,
``higher_lr_delta``. Both deltas are 0.01 test accuracy: one percentage point, 5 of the subset's 500
test images (100 of Fashion-MNIST's 10,000). Rationale: the paper's claim is that BN matches or beats
the baseline's accuracy (Figure 1(a)), so the margin must be small next to the accuracies compared
(~0.9) and to the effect the control must show (below), yet above the resolution of one 500-image
split (0.002 per image) so that a tie is not a coin flip. Unchanged from the previous design (fixed
before its first run, which measured BN - no BN -0.014 +- 0.006 with Xavier init and 600 steps) and
not moved for this one: the deltas and the drop below were fixed before any run of this design; only
the pilot above (rates, 2 seeds) was seen.

The second half of higher_lr (the control): no BN at 5x - no BN at its tuned rate must be clearly
negative, its CI's *upper* end at or below ``-higher_lr_control_drop`` (0.05, five deltas: "does not
train" must be a larger effect than the margin "no worse" allows). A diverged seed counts at chance
accuracy in every difference (research/engine/claims.py ``final``), so a control that diverges is
worse by construction; a BN-at-5x seed that diverges counts against BN the same way.

Measured, this design's first run (mnist5k read, Fashion-MNIST not installed; 16 seeds, 412 s on 2
cores shared with another study's run; 253k seed-steps of claim runs, 158k of tuning). Tuning (mean
final validation accuracy over 4 tuning seeds, none diverged): no BN at 0.3 / 1 / 3 / 10 / 30:
0.394 / 0.889 / 0.928 / 0.101 / 0.099, chose 3; BN: 0.935 / 0.931 / 0.938 / 0.941 / 0.930, chose 10; so
both fast arms ran at 15. faster 5.28 +- 0.61, holds (no BN reaches 85% at ~1,250 steps, BN at ~240).
final_accuracy BN - no BN on test +0.012 +- 0.010, holds (the previous design, Xavier init, 600 steps,
one rate tuned for no BN only, validation: -0.014 +- 0.006, did not). higher_lr does not hold, by a
hair: BN at 15 - BN at 10 is -0.003 [-0.011, +0.005], its lower end just past -0.01 (16 seeds, test
0.930 vs 0.934; on validation both 0.939), while the control holds clearly (no BN at 15 - no BN at 3:
-0.821 +- 0.010, stuck at chance, none diverged). Reported as measured; the margin was not moved.
stable_inputs 3.43 +- 1.26, holds; step_cost 1.48 +- 0.13.

Measured on Fashion-MNIST, the first run of this design there (the default config above: target 0.80,
an evaluation every 66 steps; 16 seeds, 3,960 steps; 205 s of compute, 3 min 30 s wall on 2 cores
lightly shared with another engineer's work, ~2,100-2,400 seed-steps/s). Tuning (mean final
validation accuracy over 4 tuning seeds, none diverged): no BN at 0.3 / 1 / 3 / 10 / 30: 0.405 /
0.842 / 0.835 / 0.150 / 0.098, chose 1; BN: 0.866 / 0.859 / 0.875 / 0.869 / 0.802, chose 3; so both
fast arms ran at 5. faster 9.71 +- 1.12, holds (no BN reaches 80% at ~3,250 steps, BN at ~350; at the
subset's 0.85, which this run does not score, 8 of 16 no-BN seeds would never have reached it).
final_accuracy BN - no BN on test +0.045 +- 0.013, holds (0.855 vs 0.811). stable_inputs 3.12 +- 1.46,
holds. higher_lr does not hold, and this time because of its control: BN at 5 - BN at 3 is +0.001
[-0.002, +0.004] (non-inferior), but no BN at 5 - no BN at 1 is -0.047 +- 0.098, its upper end far
above -0.05: at 5x a tuned rate of 1 the plain sigmoid net still trains on Fashion-MNIST (15 of 16
seeds reach 80%, test ~0.81; one seed stuck at chance), where on the subset 5x its tuned 3 stayed at
chance. Reported as measured; the multiple and the margins were not moved. step_cost (a check) does
not hold here: 1.07 +- 0.08 over n = 4, the per-epoch step times of a 4-epoch run (60 on the subset),
BN 0.48 ms vs 0.45 ms per seed-step.

Split resampling (``data.split_seeds`` = SPLITS = 16, the default since the run above): seed s
trains, validates and is tested on the split of ``split_seed + s``, so the intervals over seeds
include the split (on Fashion-MNIST the official test set is the same for every split and the
500 validation images are resampled; on the subset the test images are too). Measured on
Fashion-MNIST with it (the default config; 4 min 10 s wall, 2 cores lightly shared): the tuning
seeds, now each on its own validation split, chose other rates: no BN 0.3 / 1 / 3 / 10 / 30:
0.397 / 0.830 / 0.835 / 0.147 / 0.099, chose 3 (1 before, by 0.007 the other way); BN 0.850 /
0.859 / 0.857 / 0.865 / 0.715, chose 10 (3 before); so both fast arms ran at 15. faster 3.79 +- 0.54,
holds (at 10 against no BN's 3). final_accuracy +0.034 +- 0.007, holds (test 0.851 vs 0.817).
stable_inputs 3.21 +- 1.21, holds. higher_lr does not hold, now by its first half: BN at 15 - BN at
10 is -0.0085 [-0.0139, -0.0031], below the -0.01 margin, while its control holds (no BN at 15 -
no BN at 3: -0.717 +- 0.007, at chance). Which half of higher_lr fails follows the tuned rates, and
those move with the 500-image validation split of 4 tuning seeds (adjacent rates within 0.01 of each
other): the verdict is not robust to that choice, which is the result this design can report;
more tuning seeds would pin the rates. step_cost (a check) 1.15 [0.99, 1.32], n = 4, does not hold.
On the subset with 16 splits (``--config.data.name=mnist5k``; 5 min 57 s on a loaded machine) the
tuning chose no BN 3, BN 3: final_accuracy +0.016 +- 0.004 and higher_lr +0.0029 [-0.0039, +0.0097]
hold (one split: BN 10, and higher_lr missed by 0.001).

step_cost (a check, not a finding) times the two compiled programs, one per BN setting. Wall-clock
ratios on a shared 2-core machine move between runs; it is reported, not tuned.
"""

from research.engine.config import defaults

SPLITS = 16  # resampled data splits, one per claim seed (data.split_seeds)

# The learning-rate grid every tuned arm's rate is chosen from (see the docstring's pilot).
TUNE_LRS = (0.3, 1.0, 3.0, 10.0, 30.0)
FAST = 5.0  # the larger rate, as a multiple of the no-BN arm's tuned rate (both with and without BN)
STEPS = 4000  # minibatch steps per run (the paper: 50,000; see the docstring for why this fits)
# faster's accuracy target per data source (Dataset.source), fixed before any run on it (see the docstring).
TARGETS = {"mnist5k": 0.85, "fashion_mnist": 0.80}
EVAL_STEPS = 66  # the claim runs evaluate about every this many steps on any data set (see the docstring)
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
    c.seeds = 16
    # split resampling: seed s on the split of split_seed + s mod SPLITS, so the claims' intervals over
    # seeds include the split (the test accuracy is a generalization claim); see the docstring
    c.data.update({"name": "fashion_mnist_or_mnist5k", "n_val": 500, "n_test": 500, "split_seeds": SPLITS})
    c.model.update({"hidden": (100, 100, 100), "activation": "sigmoid", "weight_init": "small_random"})
    c.model.weight_init_kwargs = {"scale": 0.01}
    c.train.update({"optimizer": "sgd", "lr": 1.0, "epochs": 1000, "max_steps": STEPS, "batch_size": 60,
                    "evals_per_epoch": 1})
    c.train.optimizer_kwargs = {}
    c.eval.update({"target_accuracy": 0.85, "hist_seeds": 2})
    c.params = {"margins": dict(MARGINS), "tune_lrs": TUNE_LRS, "tune_seeds": 4, "tune_seed": 1000,
                "lr_multiples": {"bn_lr_x5": FAST, "no_bn_lr_x5": FAST}, "targets": dict(TARGETS),
                "eval_steps": EVAL_STEPS}
    c.arms = {"no_bn": {"model": {"batchnorm": False}},
              "bn": {"model": {"batchnorm": True}},
              "bn_lr_x5": {"model": {"batchnorm": True}},
              "no_bn_lr_x5": {"model": {"batchnorm": False}}}
    return c
