"""python -m experiments.run --config configs/init_zoo.py --workdir runs/init_zoo

Three inits beyond variance scaling, 16 seeds. (a) Saxe et al. 2013: the end-to-end Jacobian of a
depth-16, width-128 deep linear net is an isometry under orthogonal init (every singular value 1 to
round-off) while under N(0, 1/n) its singular values spread over orders of magnitude. (b) Mishkin &
Matas 2016: LSUV (orthogonal start, tolerance 0.1, a fresh minibatch of 128 per iteration, at
most 10) brings every layer's output variance to 1 on a held-out batch, in one or a few iterations
per layer. (c) Martens 2010: sparse init (15 incoming N(0, 1) weights per unit) should train a
5-hidden-layer tanh net on the bundled MNIST 5k about as well as he_normal, xavier_normal and LSUV
(claim: final validation accuracy within 0.02 of the best dense arm, paired by seed). It did not
in our run: with plain momentum and 5 epochs it trails by about 0.09 and is still climbing.

The training net uses tanh because sparse init's unit-variance weights were proposed for
saturating units (Martens trained the logistic-unit deep autoencoders of Hinton & Salakhutdinov
2006); with ReLU, 15 N(0, 1) inputs per unit multiply the activations' second moment by ~7.5 per
layer. Learning rates (momentum 0.9, batch 64, 5 epochs): each arm's own, chosen on the validation
split (see LRS).

Margins (``params.margins``, fixed here before any run; see MARGINS; the claims print them).
orthogonal_isometry (a check): the orthogonal product's max |sigma - 1| has its 95% CI below
``isometry_max_dev`` (1e-10, far above float64 round-off, ~1e-15) and the
Gaussian product's median singular value below ``gaussian_median_max`` (0.5). lsuv_unit_variance (a
check): every layer's held-out variance misses 1 by at most lsuv_tol plus ``lsuv_se_bound`` (3)
standard errors of the two variance estimates involved. sparse_trains: sparse init is within
``sparse_margin`` (0.02) of the best dense arm, the paired difference's CI lower end >= -0.02, a
margin fixed before any run. The values are the ones the study code held before they moved here,
unchanged.
"""

from research.engine.config import defaults

# Per-arm rates: the best mean final validation accuracy over 4 seeds (seed=1000) of {0.003, 0.01,
# 0.03, 0.1}. he_normal 0.920/0.931/0.935/0.900, xavier_normal 0.914/0.926/0.933/0.899, lsuv
# 0.919/0.931/0.935/0.901, sparse15 0.775/0.836/0.826/0.532 (no run diverged).
LRS = {"he_normal": 0.03, "xavier_normal": 0.03, "lsuv": 0.03, "sparse15": 0.01}
# Verdict margins, fixed before the run (config.params.margins; the claims print them).
MARGINS = {
    "isometry_max_dev": 1e-10,   # orthogonal_isometry: CI of max |sigma - 1| (orthogonal, float64) below this
    "gaussian_median_max": 0.5,  # orthogonal_isometry: CI of the Gaussian product's median sigma below this
    "lsuv_se_bound": 3.0,        # lsuv_unit_variance: bound lsuv_tol + this x median standard error
    "sparse_margin": 0.02,       # sparse_trains: CI lower end of sparse - best dense >= -this
}


def get_config():
    c = defaults()
    c.study = "init_zoo"
    c.seeds = 16
    c.data.update({"name": "mnist5k", "n_val": 500, "n_test": 500})
    c.model.update({"hidden": (100,) * 5, "activation": "tanh", "bias_init": "zeros"})
    c.train.update({"optimizer": "momentum", "epochs": 5, "batch_size": 64, "evals_per_epoch": 2})
    c.train.optimizer_kwargs = {"alpha": 0.9}
    c.params = {"linear_depth": 16, "linear_width": 128, "lsuv_tol": 0.1, "lsuv_max_iter": 10, "lsuv_batch": 128,
                "margins": dict(MARGINS)}
    inits = {"he_normal": ("he_normal", {}), "xavier_normal": ("xavier_normal", {}),
             "lsuv": ("orthogonal", {}), "sparse15": ("sparse", {"connections": 15})}
    c.arms = {name: {"model": {"weight_init": init, "weight_init_kwargs": kw}, "train": {"lr": LRS[name]}}
              for name, (init, kw) in inits.items()}
    return c
