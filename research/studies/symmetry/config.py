"""python -m experiments.run --config configs/symmetry.py --workdir runs/symmetry

Notes 000-002's argument as an experiment: a 784-64-32-10 sigmoid net trained on the bundled MNIST
5k subset (plain SGD, 3 epochs, 32 seeds) from all-zero, constant (0.05) and 0.01*randn weights.
It should show every hidden unit of a layer still identical after training under zero and constant
init (max pairwise difference exactly 0), zero init near chance, and small random init with units
that differ. Float32, where XLA's CPU matmul keeps identical columns bit-identical.

Margins (``params.margins``, fixed here before any run; see MARGINS): zero init "learns next to
nothing" if its final validation accuracy's 95% CI lies below ``zero_accuracy_max`` (0.3, three
times chance). The unit claims have no margin: they test bit-identity (a spread of exactly 0 in
every seed and layer) and its absence (above 0 in every one).
"""

from research.engine.config import defaults

# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "zero_accuracy_max": 0.3,  # zero.accuracy: CI of the zero-init arm's final val accuracy below this
}


def get_config():
    c = defaults()
    c.study = "symmetry"
    c.seeds = 32
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (64, 32), "activation": "sigmoid"})
    c.train.update({"optimizer": "sgd", "lr": 0.5, "epochs": 3, "batch_size": 64})
    c.train.optimizer_kwargs = {}  # assigned, not updated: update() would merge into momentum's alpha
    c.eval.update({"target_accuracy": 0.5, "hist_seeds": 2})
    c.params = {"margins": dict(MARGINS)}
    c.arms = {"zeros": {"model": {"weight_init": "zeros"}},
              "constant": {"model": {"weight_init": "constant", "weight_init_kwargs": {"value": 0.05}}},
              "small_random": {"model": {"weight_init": "small_random"}}}
    return c
