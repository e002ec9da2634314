"""The weight_scale study: a tiny run through the real command, the scale grid's layout, and the
claim's counting on hand-made results (so the verdict can go either way)."""

import pytest
import ml_collections
import numpy as np
from studyrun import run_and_check

from research.engine import config as config_lib, experiment, files
from research.studies.weight_scale import study as ws

TINY = ["--config.seeds=2", "--config.params.n_scales=3", "--config.data.limit_train=100",
        "--config.train.epochs=1", "--config.model.hidden=(4,)"]


@pytest.mark.slow  # the whole study through the CLI (10-25 s); .ci/run runs the slow marker too
def test_tiny_run_reports_the_claim_and_lays_out_seeds_by_scales(tmp_path):
    summary = run_and_check(tmp_path, "weight_scale", TINY, {"weight_scale.bn_robust"})
    assert len(summary["arms"]) == 2 * 3  # arm x scale rows
    m = files.read_npz(str(tmp_path / "metrics.npz"))
    np.testing.assert_allclose(m["scales"], [1e-4, 1e-2, 1.0])
    for arm in ("bn", "no_bn"):
        assert m[f"{arm}/val_acc"].shape == (2, 3, 1)
        assert m[f"{arm}/train_acc"].shape == (2, 3) and m[f"{arm}/diverged_at"].shape == (2, 3)
        assert np.all((m[f"{arm}/train_acc"] >= 0) & (m[f"{arm}/train_acc"] <= 1))
    # the scale axis really is the weight scale: without BN, N(0, 1) weights (scale 1) give huge
    # logits and a training loss far above log(10), while scale 1e-4 sits at log(10) ~ 2.303
    loss = m["no_bn/train_loss_final"]
    assert np.all(np.abs(loss[:, 0] - np.log(10)) < 0.01)
    assert np.all(loss[:, 2] > 5 * np.log(10))


def _results(bn_acc, plain_acc, plain_diverged=None):
    bn_acc, plain_acc = np.asarray(bn_acc, float), np.asarray(plain_acc, float)
    div = np.full(plain_acc.shape, -1) if plain_diverged is None else np.asarray(plain_diverged)
    return {"scales": np.logspace(-4, 0, bn_acc.shape[1]),
            "bn/val_acc": bn_acc[..., None], "bn/diverged_at": np.full(bn_acc.shape, -1), "bn/batchnorm": np.True_,
            "no_bn/val_acc": plain_acc[..., None], "no_bn/diverged_at": div, "no_bn/batchnorm": np.False_}


def _full():
    return experiment.resolve(ml_collections.ConfigDict({"study": "weight_scale", "arms": {"no_bn": {}, "bn": {}}}))


def test_claim_counts_scales_reaching_half_the_best():
    bn = [[0.9, 0.8, 0.9, 0.3], [0.9, 0.9, 0.5, 0.1]]
    plain = [[0.1, 0.9, 0.2, 0.1], [0.1, 0.8, 0.9, 0.1]]
    res = _results(bn, plain)
    assert ws._threshold(_full(), res) == 0.5 * 0.9  # best mean over (arm, scale) is 0.9
    np.testing.assert_array_equal(ws.reaching(_full(), res, "bn"), [3, 3])
    np.testing.assert_array_equal(ws.reaching(_full(), res, "no_bn"), [1, 2])
    (c,) = [x.as_dict() for x in ws.claims(_full(), res)]
    assert c["id"] == "weight_scale.bn_robust" and c["measured"] == 1.5


def test_claim_fails_when_bn_is_no_more_robust():
    acc = [[0.1, 0.9, 0.9, 0.1], [0.1, 0.8, 0.9, 0.2], [0.2, 0.9, 0.8, 0.1]]
    (c,) = [x.as_dict() for x in ws.claims(_full(), _results(acc, acc))]
    assert c["measured"] == 0 and not c["holds"]


def test_a_diverged_run_does_not_reach_and_is_left_out_of_means():
    bn = [[0.9, 0.9], [0.9, 0.9]]
    plain = [[0.9, 0.9], [0.9, 0.9]]
    res = _results(bn, plain, plain_diverged=[[-1, 3], [-1, -1]])
    np.testing.assert_array_equal(ws.reaching(_full(), res, "no_bn"), [1, 2])
    res.update({f"{a}/{k}": np.full((2, 2), 0.5) for a in ("bn", "no_bn") for k in ("train_acc", "train_loss_final")})
    rows = ws.summary(_full(), res)["arms"]
    row = rows[f"no_bn@{res['scales'][1]:.2e}"]
    assert row["n_diverged"] == 1 and row["final_val_acc"]["n"] == 1


def test_init_scale_multiplies_unit_normal_weights():
    """The study's premise: weight_init normal(stddev=1) times Hyper.init_scale = N(0, scale^2)."""
    import jax

    from research.engine import train
    from configs.weight_scale import get_config

    full = config_lib.merged(get_config())
    arm = config_lib.resolve(full, "no_bn")
    prog = train.program(arm, 1000, 784, 10)
    spec = config_lib.spec(arm, 784, 10)
    carry = prog.init(jax.random.key(0), 1e-2, spec)
    w = np.asarray(carry.params[0]["w"])
    # 39,200 draws: the std is within 2% (about 5 standard errors), the mean within 10 standard errors of 0
    assert abs(w.std() / 1e-2 - 1) < 0.02 and abs(w.mean()) < 10 * 1e-2 / np.sqrt(w.size)


def _full_with(margins):
    return experiment.resolve(ml_collections.ConfigDict({"study": "weight_scale", "params": {"margins": margins},
                                                         "arms": {"no_bn": {}, "bn": {}}}))


def test_claim_margins_come_from_the_config():
    """The default (reach 0.5 x the best) counts BN - no BN = (2, 1): interval reaching below 0, no
    verdict. At 0.95 x the best the counts are (1, 1): it holds; with a minimum gap of 1 it does not."""
    res = _results([[0.9, 0.8, 0.9, 0.3], [0.9, 0.9, 0.5, 0.1]], [[0.1, 0.9, 0.2, 0.1], [0.1, 0.8, 0.9, 0.1]])
    (c,) = [x.as_dict() for x in ws.claims(_full(), res)]
    assert not c["holds"] and "reach 0.5 x the best" in c["claim"]
    (c,) = [x.as_dict() for x in ws.claims(_full_with({"reach_fraction": 0.95}), res)]
    assert c["measured"] == 1.0 and c["holds"] and "reach 0.95 x the best" in c["claim"]
    (c,) = [x.as_dict() for x in ws.claims(_full_with({"reach_fraction": 0.95, "bn_robust_min_gap": 1.0}), res)]
    assert not c["holds"] and "above 1" in c["claim"]
