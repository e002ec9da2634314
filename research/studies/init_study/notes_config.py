"""python -m experiments.run --config configs/init_study_notes.py --workdir runs/init_study_notes

The init study in the notes' own regime (claim ``init_study.notes.scaled_inits_train``): the same
4-hidden-layer sigmoid net (784-390-156-62-25-10) from LeCun, Xavier and He init, but trained as the
notes' code trains it: K sigmoid output units with squared error on one-hot targets
(``sigmoid_mse``: 1/2 sum_k (t_k - s(z_k))^2), plain SGD, pixels in [0, 1] (``data.normalize="unit"``,
no standardization), minibatches of 10.

What the notes ran and what this runs. The notes' code took 20,000 updates at batch 10 with one
run per init. Here: 8 seeds per init, paired by seed, and 4,000 updates (10 epochs of the bundled
subset's 4,000 training images), a fifth of the notes' budget: at batch 10 a step is mostly
overhead, 20,000 updates x 3 inits x (8 scored + 6 tuning) runs would take ~25 minutes on 2 cores;
this config is sized to a few minutes. The claim is therefore "trains within 4,000 updates", a
harder bar than the notes' 20,000; a failure here says the plateau outlasts 4,000 updates, not
that the notes are wrong (rerun with ``--config.train.max_steps=20000 --config.train.epochs=50``
for the notes' budget). The rate is not given by the notes: each init's is chosen from
{0.3, 1, 3} on 2 tuning seeds (``params.tune_seed``), never the scored seeds, at this budget.

Margins (``params.margins``, fixed here before any run; init_study/config.py's MARGINS, unchanged):
the scaled inits "train" if each has its final validation accuracy's 95% CI lower end at or above
``trains_min`` (0.8, also ``eval.target_accuracy``: the Kaplan-Meier time to it is reported).

Measured, the first run (8 seeds, 4,000 updates; 213 s on 2 shared CPU cores under load: tuning
93 s, scoring 102 s): every init chose 3.0, the top of the grid (tuning means at 0.3 / 1 / 3: LeCun
0.10 / 0.19 / 0.84, Xavier 0.10 / 0.72 / 0.89, He 0.20 / 0.85 / 0.90; none diverged), so the grid
does not bracket the best rate; a larger one could only raise the accuracies or diverge.
notes.scaled_inits_train 0.853 +- 0.029 (worst arm LeCun; Xavier 0.887, He 0.906), holds;
Kaplan-Meier median steps to 0.8: He 1600, Xavier 2400, LeCun 3600 (8/8 each): the plateau lasts
thousands of updates in this regime, which is why the notes ran 20,000.
"""

from research.studies.init_study.config import MARGINS, get_config as _main_config

INITS = ("lecun_normal", "xavier_normal", "he_normal")
TUNE_LRS = {"sigmoid": (0.3, 1.0, 3.0, 10.0)}  # 10 added after the first run chose 3, the top (docstring)
STEPS = 4000  # the notes: 20,000 (see the docstring)


def get_config():
    c = _main_config()
    c.seeds = 8
    c.data.normalize = "unit"
    c.train.update({"optimizer": "sgd", "loss": "sigmoid_mse", "batch_size": 10, "epochs": 10, "max_steps": STEPS,
                    "evals_per_epoch": 2})
    c.train.optimizer_kwargs = {}
    c.params = {"margins": dict(MARGINS), "tune_lrs": dict(TUNE_LRS), "tune_seeds": 2, "tune_seed": 1000}
    c.arms = {f"notes-{init}": {"model": {"activation": "sigmoid", "weight_init": init}} for init in INITS}
    return c
