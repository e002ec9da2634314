"""The width_transfer study (Tensor Programs V): its claims' verdicts on hand-made results (each can
go either way), the slope fit's exactness, selection never picking a rate with a diverged seed, and
a tiny run through the real command."""

import math

import numpy as np
import pytest
from studyrun import run_and_check

import claimkit
from research.engine import files
from research.studies.width_transfer import study as wt

WIDTHS = (64, 128, 256, 512)
LRS = (-6.0, -5.0, -4.0, -3.0, -2.0, -1.0)
SEEDS = 6


def _full(**margins):
    params = {"widths": WIDTHS, "log2_lrs": LRS}
    if margins:
        params["margins"] = dict(wt.MARGINS, **margins)
    return claimkit.resolved("width_transfer", seeds=SEEDS, params=params)


def _losses(best_index_per_width, noise=0.002, key=0):
    """(seeds, widths, lrs) losses: a parabola in the grid index with its minimum at the given index
    per width, plus small per-seed noise (fixed generator)."""
    rng = np.random.default_rng(key)
    idx = np.arange(len(LRS))[None, None, :]
    best = np.asarray(best_index_per_width, float)[None, :, None]
    base = 0.2 + 0.05 * (idx - best) ** 2 - 0.01 * np.arange(len(WIDTHS))[None, :, None]
    return base + noise * rng.standard_normal((SEEDS, len(WIDTHS), len(LRS)))


def _coord(size_exponents, change_exponents, steps=3, key=1):
    """coord_rms (seeds, widths, steps + 1, layers) and coord_delta (seeds, widths, steps, layers)
    scaling exactly as width**exponent per layer, times a per-seed positive factor."""
    rng = np.random.default_rng(key)
    w = np.asarray(WIDTHS, float)[None, :, None, None]
    f = np.exp(0.1 * rng.standard_normal((SEEDS, 1, 1, 1)))
    rms = f * w ** np.asarray(size_exponents, float)[None, None, None, :] * np.ones((1, 1, steps + 1, 1))
    delta = f * w ** np.asarray(change_exponents, float)[None, None, None, :] * np.ones((1, 1, steps, 1))
    return rms, delta


def _results(losses_by_arm, coord_by_arm=None, diverged_by_arm=None):
    out = {"widths": np.asarray(WIDTHS, np.int64), "log2_lrs": np.asarray(LRS)}
    for name, loss in losses_by_arm.items():
        out[f"{name}/val_loss"] = loss[..., None]
        out[f"{name}/val_acc"] = (1.0 - loss)[..., None]
        out[f"{name}/train_loss"] = loss[..., None]
        div = np.full(loss.shape, -1, np.int64)
        if diverged_by_arm and name in diverged_by_arm:
            div = diverged_by_arm[name]
        out[f"{name}/diverged_at"] = div
        rms, delta = (coord_by_arm or {}).get(name, _coord([0, 0, 0, 0], [0, 0, 0, 0]))
        out[f"{name}/coord_rms"], out[f"{name}/coord_delta"] = rms, delta
        out[f"{name}/coord_diverged_at"] = np.full((SEEDS, len(WIDTHS)), -1, np.int64)
    return out


def test_slopes_recover_power_laws_exactly():
    rms, _ = _coord([0.0, 0.5, -1.0], [0, 0, 0], steps=2)
    s = wt.slopes(rms, WIDTHS)
    np.testing.assert_allclose(s[..., 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(s[..., 1], 0.5, atol=1e-12)
    np.testing.assert_allclose(s[..., 2], -1.0, atol=1e-12)
    bad = rms.copy()
    bad[0, 1, 0, 0] = 0.0  # a zero size has no log: NaN, not a number that looks like a slope
    assert np.isnan(wt.slopes(bad, WIDTHS)[0, 0, 0])


def test_mup_transfer_holds_when_every_width_shares_the_best_rate():
    full = _full()
    res = _results({"mup": _losses([3, 3, 3, 3]), "sp": _losses([4, 3, 2, 1])})
    c = claimkit.claims_by_id("width_transfer", full, res)
    assert c["width_transfer.mup.lr_transfers"].holds and c["width_transfer.mup.lr_transfers"].measured == 0
    assert c["width_transfer.sp.lr_shifts"].holds and c["width_transfer.sp.lr_shifts"].measured == 3
    assert c["width_transfer.mup.wider_is_better"].holds  # 0.01 lower loss per width, well inside 0.02


def test_transfer_verdicts_flip_when_the_best_rate_moves_or_stays():
    full = _full()
    res = _results({"mup": _losses([3, 3, 2, 1]), "sp": _losses([3, 3, 3, 3])})
    c = claimkit.claims_by_id("width_transfer", full, res)
    assert not c["width_transfer.mup.lr_transfers"].holds and c["width_transfer.mup.lr_transfers"].measured == 2
    assert not c["width_transfer.sp.lr_shifts"].holds
    # a one-step move is within muP's tolerance of one grid step, and not a shift for SP
    one = _results({"mup": _losses([3, 3, 4, 4]), "sp": _losses([3, 3, 4, 4])})
    c = claimkit.claims_by_id("width_transfer", full, one)
    assert c["width_transfer.mup.lr_transfers"].holds and not c["width_transfer.sp.lr_shifts"].holds
    # the margin is the config's: zero steps allowed makes the same one-step move fail
    c = claimkit.claims_by_id("width_transfer", _full(lr_transfer_steps=0.0), one)
    assert not c["width_transfer.mup.lr_transfers"].holds and "within 0 grid step" in c["width_transfer.mup.lr_transfers"].claim


def test_a_rate_with_a_diverged_seed_is_never_selected():
    loss = _losses([3, 3, 3, 3])
    div = np.full(loss.shape, -1, np.int64)
    div[0, 2, 3] = 5  # one seed diverged at width 256 at the otherwise best rate
    res = _results({"mup": loss, "sp": loss}, diverged_by_arm={"mup": div})
    final = wt.final_losses(res, "mup")
    assert np.isinf(final[0, 2, 3]) and np.isfinite(final[1:, 2, 3]).all()
    neighbour = 2 if final[:, 2, 2].mean() < final[:, 2, 4].mean() else 4  # the better of the two next rates
    np.testing.assert_array_equal(wt.best_index(final), [3, 3, neighbour, 3])
    # every rate diverged at one width: no best rate there, and transfer fails
    div[0, 1, :] = 1
    res = _results({"mup": loss, "sp": loss}, diverged_by_arm={"mup": div})
    assert np.isnan(wt.best_index(wt.final_losses(res, "mup"))[1])
    c = claimkit.claims_by_id("width_transfer", _full(), res)
    assert not c["width_transfer.mup.lr_transfers"].holds and c["width_transfer.mup.lr_transfers"].n_diverged == 1


def test_wider_is_better_fails_when_a_wider_net_is_worse():
    loss = _losses([3, 3, 3, 3])
    loss[:, 3, :] += 0.05  # width 512 worse than 256 by 0.05 nats at every rate
    c = claimkit.claims_by_id("width_transfer", _full(), _results({"mup": loss, "sp": loss}))
    w = c["width_transfer.mup.wider_is_better"]
    assert not w.holds and math.isclose(w.measured, 0.04, abs_tol=0.005) and "512 - 256" in w.claim


def test_coordinate_check_verdicts():
    loss = _losses([3, 3, 3, 3])
    flat = _coord([0, 0, 0, 0], [0, 0, 0, 0])
    sp_like = _coord([0, 0, 0, 0], [-0.5, 0.5, 0.5, 1.0])
    c = claimkit.claims_by_id("width_transfer", _full(),
                              _results({"mup": loss, "sp": loss}, coord_by_arm={"mup": flat, "sp": sp_like}))
    assert c["width_transfer.mup.coord_check"].holds and abs(c["width_transfer.mup.coord_check"].measured) < 1e-9
    assert c["width_transfer.sp.coord_check"].holds and math.isclose(c["width_transfer.sp.coord_check"].measured, 1.0)
    # swap them: muP with growing changes fails, SP with flat logits fails
    c = claimkit.claims_by_id("width_transfer", _full(),
                              _results({"mup": loss, "sp": loss}, coord_by_arm={"mup": sp_like, "sp": flat}))
    assert not c["width_transfer.mup.coord_check"].holds and not c["width_transfer.sp.coord_check"].holds
    assert math.isclose(c["width_transfer.mup.coord_check"].measured, 1.0)  # the logits' change, furthest from 0


def test_base_width_check_reads_bitwise_equality():
    loss = _losses([3, 3, 3, 3])
    c = claimkit.claims_by_id("width_transfer", _full(), _results({"mup": loss, "sp": loss.copy()}))
    assert c["width_transfer.mup.base_is_sp"].holds
    other = loss.copy()
    other[1, 0, 2] += 1e-7
    c = claimkit.claims_by_id("width_transfer", _full(), _results({"mup": other, "sp": loss}))
    assert not c["width_transfer.mup.base_is_sp"].holds


TINY = ["--config.seeds=2", "--config.data.limit_train=256", "--config.train.epochs=1",
        "--config.params.widths=(8,16,32)", "--config.params.depth=2", "--config.params.log2_lrs=(-3,-2,-1)",
        "--config.params.coord_steps=2", "--config.params.coord_batch=16"]


@pytest.mark.slow  # the whole study through the CLI (~1 min); .ci/run runs the slow marker too
def test_tiny_run_reports_claims_and_lays_out_the_grid(tmp_path):
    ids = {"width_transfer.mup.lr_transfers", "width_transfer.mup.wider_is_better", "width_transfer.mup.coord_check",
           "width_transfer.sp.lr_shifts", "width_transfer.sp.coord_check", "width_transfer.mup.base_is_sp",
           "width_transfer.mup.grid_brackets", "width_transfer.sp.grid_brackets"}
    run_and_check(tmp_path, "width_transfer", TINY, ids)
    m = files.read_npz(str(tmp_path / "metrics.npz"))
    for arm in ("sp", "mup"):
        assert m[f"{arm}/val_loss"].shape == (2, 3, 3, 1) and m[f"{arm}/diverged_at"].shape == (2, 3, 3)
        assert m[f"{arm}/coord_rms"].shape == (2, 3, 3, 3) and m[f"{arm}/coord_delta"].shape == (2, 3, 2, 3)
    # at the base width muP is SP exactly; at wider widths the two differ
    np.testing.assert_array_equal(m["sp/val_loss"][:, 0], m["mup/val_loss"][:, 0])
    assert not np.array_equal(m["sp/val_loss"][:, 2], m["mup/val_loss"][:, 2])
    np.testing.assert_array_equal(m["sp/coord_rms"][:, 0], m["mup/coord_rms"][:, 0])


def test_grid_check_fails_when_a_best_rate_sits_at_the_grid_end():
    full = _full()
    c = claimkit.claims_by_id("width_transfer", full, _results({"mup": _losses([3, 3, 3, 3]), "sp": _losses([3, 3, 3, 5])}))
    assert c["width_transfer.mup.grid_brackets"].holds and c["width_transfer.mup.grid_brackets"].measured == 0
    g = c["width_transfer.sp.grid_brackets"]
    assert not g.holds and g.measured == 1 and g.claim.endswith(": 512") and g.kind == "check"
