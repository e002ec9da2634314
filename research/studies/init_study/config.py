"""python -m experiments.run --config configs/init_study.py --workdir runs/init_study

Study note 004's experiment done over many seeds: the 4-hidden-layer network of that note
(784-390-156-62-25-10) trained on the bundled MNIST 5k subset from six starts -- all-zero, small
random (0.01*randn), LeCun (1/n), Xavier, He and sparse (10 incoming connections) -- with sigmoid
units (as the note) and ReLU units, 32 seeds each, momentum SGD. It should show zero init stuck at
chance, small random init stalling in the deep sigmoid net, and the variance-scaled inits training.

Learning rates were chosen on the validation split from {0.1, 0.3, 1, 3} (sigmoid, Xavier) and
{0.01, 0.03, 0.1, 0.3} (relu, He), 4 seeds, 4 epochs: sigmoid 0.3 (0.874 val acc; 1.0 gave 0.52,
3.0 stayed at chance), relu 0.03 (0.927; 0.01 tied, 0.3 diverged).

Margins (``params.margins``, fixed here before any run; see MARGINS): zero and 0.01*randn init
"stay at chance / stall" if the final validation accuracy's 95% CI lies below ``stuck_max`` (0.2,
twice chance on 10 classes); the variance-scaled inits "train" if each has its CI's lower end at
or above ``trains_min`` (0.8, the same level as eval.target_accuracy; the arm with the lowest lower
end decides). Both were in the study code before they moved here, unchanged.
"""

from research.engine.config import defaults

INITS = ("zeros", "small_random", "lecun_normal", "xavier_normal", "he_normal", "sparse")
LR = {"sigmoid": 0.3, "relu": 0.03}
# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "stuck_max": 0.2,   # zeros_at_chance, small_random_stalls: CI of final val accuracy below this
    "trains_min": 0.8,  # scaled_inits_train: the worst scaled init's CI lower end at or above this
}


def get_config():
    c = defaults()  # every key present, so any of them can be overridden from the command line
    c.study = "init_study"
    c.seeds = 32
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500, "split_seed": 0})
    c.model.update({"hidden": (390, 156, 62, 25), "bias_init": "zeros"})
    c.train.update({"optimizer": "momentum", "optimizer_kwargs": {"alpha": 0.9}, "batch_size": 64, "epochs": 4,
                    "evals_per_epoch": 4, "loss": "softmax_ce"})
    c.eval.target_accuracy = 0.8
    c.params = {"margins": dict(MARGINS)}
    c.arms = {f"{act}-{init}": {"model": {"activation": act, "weight_init": init}, "train": {"lr": LR[act]}}
              for act in ("sigmoid", "relu") for init in INITS}
    return c
