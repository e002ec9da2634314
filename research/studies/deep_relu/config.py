"""python -m experiments.run --config configs/deep_relu.py --workdir runs/deep_relu

He et al. 2015's 30-layer experiment (Section 2.2, Figure 3) as an MLP on the bundled MNIST 5k
subset: 29 hidden ReLU layers of 128 units and a linear output layer (30 weight layers), no
BatchNorm, zero biases; "Xavier" init Var[w] = 1/fan_in (this repo's ``lecun_normal``) against He
init Var[w] = 2/fan_in (``he_normal``); 16 seeds, paired by seed. It should show the pre-activation
variance halving at every layer under "Xavier" (log2 of the last-over-first ratio near -29) and
staying level under He (near 0), and after the same training budget the He net learning while the
"Xavier" net stays at chance. He et al. used a 30-layer conv net on ImageNet.

Width 128 keeps a default run within about 3 minutes on 2 CPU cores; at that width one net's log2
variance ratio spreads with sd ~1.4 over seeds and its mean sits ~0.4-0.7 below the theory (finite
width, see research/studies/deep_relu/study.py), hence the claims' tolerance of 0.05 per layer.

Learning rates (momentum 0.9, batch 64, 5 epochs = 310 updates) were chosen per arm on the
validation split, 2 seeds, final validation accuracy: He from {0.001, 0.003, 0.01, 0.03, 0.1}:
0.003 (0.84; 0.001: 0.76, 0.01: 0.70, 0.03: 0.27, 0.1 diverged in one seed); "Xavier" from
{0.01, 0.03, 0.1, 0.3, 1, 3}: every rate stayed at chance (0.093-0.109), 0.3 scored highest.
"""

from research.engine.config import defaults

LR = {"xavier": 0.3, "he": 0.003}


def get_config():
    c = defaults()
    c.study = "deep_relu"
    c.seeds = 16
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (128,) * 29, "activation": "relu", "batchnorm": False, "bias_init": "zeros"})
    c.train.update({"optimizer": "momentum", "lr": 0.01, "batch_size": 64, "epochs": 5, "evals_per_epoch": 2,
                    "loss": "softmax_ce"})
    c.train.optimizer_kwargs = {"alpha": 0.9}
    c.params = {"n_examples": 500}
    c.arms = {"xavier": {"model": {"weight_init": "lecun_normal", "weight_init_kwargs": {}},
                         "train": {"lr": LR["xavier"]}},
              "he": {"model": {"weight_init": "he_normal", "weight_init_kwargs": {}}, "train": {"lr": LR["he"]}}}
    return c
