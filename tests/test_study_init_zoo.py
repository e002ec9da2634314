"""The init_zoo study: a tiny run through the real command; the maths it relies on (orthogonal
products are isometries, Gaussian ones are not); the sparse claim's verdict logic."""

import pytest
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from studyrun import run_and_check

from research.engine import experiment, files
from research.studies.init_zoo import study as iz

TINY = ["--config.seeds=2", "--config.data.limit_train=256", "--config.train.epochs=1",
        "--config.model.hidden=(16,)", "--config.params.linear_depth=4", "--config.params.linear_width=8",
        "--config.params.lsuv_batch=32"]


@pytest.mark.slow  # the whole study through the CLI (10-25 s); .ci/run runs the slow marker too
def test_tiny_run_reports_its_claims(tmp_path):
    run_and_check(tmp_path, "init_zoo", TINY, {"init_zoo.orthogonal_isometry", "init_zoo.lsuv_unit_variance",
                                                "init_zoo.sparse_trains"})
    m = files.read_npz(str(tmp_path / "metrics.npz"))
    np.testing.assert_array_equal(m["linear_depths"], [1, 2, 4])
    assert m["linear/orthogonal_float64"].shape == (2, 3, 8)
    it = m["lsuv/lsuv_iterations"]
    assert it.shape == (2, 2) and np.all((it >= 0) & (it <= 10))
    assert np.mean(np.abs(m["lsuv/var_after"] - 1)) < np.mean(np.abs(m["lsuv/var_before"] - 1))
    for arm in ("he_normal", "xavier_normal", "lsuv", "sparse15"):
        assert m[f"{arm}/val_acc"].shape == (2, 2) and m[f"{arm}/diverged_at"].shape == (2,)


def test_orthogonal_product_is_an_isometry_in_float64_and_gaussian_spreads():
    keys = jax.random.split(jax.random.key(0), 4)
    sv = jax.lax.map(lambda k: iz.linear_spectra(k, 16, 64, (1, 16), jnp.float64), keys)
    orth, gauss = np.asarray(sv["orthogonal"]), np.asarray(sv["gaussian"])
    assert np.max(np.abs(orth - 1)) < 1e-12
    # N(0, 1/n): E||J v||^2 = ||v||^2 at any depth, so the mean of sigma^2 stays near 1 ...
    assert abs(np.mean(gauss[:, 1] ** 2) - 1) < 0.3
    # ... while the spectrum spreads: at depth 1 the median sigma is near 1 (Marchenko-Pastur,
    # square: median sigma^2 ~ 0.65), at depth 16 far below it and the condition number is huge
    assert 0.6 < np.median(gauss[:, 0]) < 1.0
    assert np.median(gauss[:, 1]) < 0.5
    assert np.min(gauss[:, 1, 0] / gauss[:, 1, -1]) > 1e3


def _claim_results(sparse, best_dense, other):
    n = len(sparse)
    res = {"linear/orthogonal_float64": np.ones((n, 1, 4)), "linear/gaussian_float64": np.full((n, 1, 4), 0.1)}
    for name, acc in (("sparse15", sparse), ("he_normal", best_dense), ("xavier_normal", other)):
        res[f"{name}/val_acc"] = np.asarray(acc, float)[:, None]
        res[f"{name}/diverged_at"] = np.full(n, -1)
    return res


def _full():
    return experiment.resolve(ml_collections.ConfigDict({"study": "init_zoo",
        "model": {"weight_init": "he_normal"}, "params": {"linear_depth": 1, "linear_width": 4},
        "arms": {"he_normal": {}, "xavier_normal": {"model": {"weight_init": "xavier_normal"}},
                 "sparse15": {"model": {"weight_init": "sparse"}}}}))


def test_sparse_claim_compares_with_the_best_dense_arm_and_can_fail():
    claims = {c.id: c.as_dict() for c in iz.claims(_full(), _claim_results([0.90, 0.91, 0.92], [0.91, 0.91, 0.92],
                                                                     [0.5, 0.5, 0.5]))}
    assert claims["init_zoo.sparse_trains"]["holds"] and "he_normal" in claims["init_zoo.sparse_trains"]["claim"]
    assert claims["init_zoo.orthogonal_isometry"]["holds"]
    claims = {c.id: c.as_dict() for c in iz.claims(_full(), _claim_results([0.80, 0.82, 0.81], [0.91, 0.91, 0.92],
                                                                     [0.5, 0.5, 0.5]))}
    assert not claims["init_zoo.sparse_trains"]["holds"]
