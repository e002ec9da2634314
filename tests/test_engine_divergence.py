"""Where divergence is checked (``train.divergence_check``) and how a group's runs are laid out.

``"segment"`` runs a segment's steps unchecked and redoes, with the per-step check, only a run that
fell in it: such a run freezes at the step, and with the bits, the per-step program gives it; a run
frozen earlier stays exactly as it was; a healthy run's numbers do not depend on the runs batched
with it; in float64 the two checks agree to rounding (the same arithmetic); and the redo is one
branch for the batch (a ``cond`` in the program, not both branches computed). ``placement.layout`` pads a
device's share of the runs to whole cache groups only.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.engine import config as config_lib, placement, train
from tests.test_engine import _dataset, tiny_config

AXES = (0, 0, 0, None, None, None, None, None)
STEPS = 12  # per segment: 96 training images, batch 8, one evaluation an epoch
# ReLU 784-16-8-10 with momentum, run 1 (key 1): at these rates step 2 (float32) or 4 (float64) of
# the first segment overflows; the tests assert that it falls inside the segment.
FALLS = {"float32": 1e8, "float64": 1e20}


def _setup(dtype):
    ds = _dataset(dtype=np.float64 if dtype == "float64" else np.float32)
    c = tiny_config(dtype=dtype, batch_size=8, evals_per_epoch=1)
    arm = config_lib.resolve(config_lib.merged(c), "relu-he")
    prog = train.program(arm, *ds.train.x.shape, ds.num_classes)
    assert prog.steps_per_eval == STEPS
    spec = config_lib.spec(arm, ds.train.x.shape[1], ds.num_classes)
    data = (jnp.asarray(ds.train.x), jnp.asarray(ds.train.y), jnp.asarray(ds.val.x), jnp.asarray(ds.val.y))
    return prog, spec, data


def _train(check, lrs, dtype="float32", epochs=3, group=2, carry=None):
    """Runs with the given rates (run i from key i), in groups of ``group`` as the runner batches
    them; returns the final carry and the metrics of every epoch (evaluation axis concatenated)."""
    prog, spec, data = _setup(dtype)
    prog = dataclasses.replace(prog, check=check)
    n = len(lrs)
    keys = jnp.stack([jax.random.key(i) for i in range(n)])
    hyper = train.Hyper(jnp.asarray(lrs, dtype), jnp.zeros(n, dtype), jnp.ones(n, dtype))
    if carry is None:
        carry = jax.vmap(lambda k: prog.init(k, 1.0, spec))(keys)
    chunk = train.many(prog.epoch, AXES, group=group, carry=True)
    out = []
    for e in range(epochs):
        carry, m = chunk(carry, hyper, keys, jnp.int32(e), *data)
        out.append(m)
    return carry, jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a], axis=1), *out)


def _run(tree, i):
    return [np.asarray(leaf[i]) for leaf in jax.tree.leaves(tree)]


def _bitwise(a, b) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def test_a_run_that_falls_mid_segment_freezes_where_and_as_the_per_step_check_freezes_it():
    """float32. Run 1 overflows at step 2 of the first segment; the segment check redoes that
    segment from the same start with the per-step program, so its frozen state, step and losses are
    bitwise the per-step program's. Run 0 (its group mate) keeps its unchecked numbers: bitwise
    those it has beside a healthy mate."""
    lrs = [0.05, FALLS["float32"], 0.05, 0.02]
    step_carry, step_m = _train("step", lrs)
    seg_carry, seg_m = _train("segment", lrs)
    fell = int(seg_carry.diverged_at[1])
    assert 0 < fell < STEPS - 1, fell  # inside the first segment, not at its ends
    np.testing.assert_array_equal(np.asarray(seg_carry.diverged_at), np.asarray(step_carry.diverged_at))
    assert list(np.asarray(seg_carry.diverged_at)) == [-1, fell, -1, -1]
    assert _bitwise(_run((seg_carry, seg_m), 1), _run((step_carry, step_m), 1))
    assert all(np.all(np.isfinite(p)) for p in _run(seg_carry.params, 1))
    assert np.isnan(seg_m.train_loss[1]).all() and np.isnan(seg_m.val_loss[1]).all()

    healthy_carry, healthy_m = _train("segment", [0.05, 0.05, 0.05, 0.02])
    assert _bitwise(_run((seg_carry, seg_m), 0), _run((healthy_carry, healthy_m), 0))
    assert _bitwise(_run((seg_carry, seg_m), 2), _run((healthy_carry, healthy_m), 2))
    # the healthy runs against the per-step program: the same arithmetic, float32 rounding apart
    for i in (0, 2, 3):
        for a, b in zip(_run(seg_carry.params, i), _run(step_carry.params, i)):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_a_run_frozen_before_a_segment_stays_exactly_as_it_was():
    lrs = [0.05, FALLS["float32"]]
    carry, _ = _train("segment", lrs, epochs=1)
    before = jax.tree.map(np.asarray, carry)
    after, m = _train("segment", lrs, epochs=2, carry=carry)
    assert _bitwise(_run((after.params, after.opt_state, after.bn_state), 1),
                    _run((before.params, before.opt_state, before.bn_state), 1))
    assert int(after.step[1]) == int(before.step[1]) + 2 * STEPS
    assert int(after.diverged_at[1]) == int(before.diverged_at[1]) >= 0
    assert np.isnan(m.train_loss[1]).all() and np.isnan(m.val_loss[1]).all()
    assert np.isfinite(m.train_loss[0]).all()  # its mate trains on
    assert not _bitwise(_run(after.params, 0), _run(before.params, 0))


def test_segment_and_step_checks_are_the_same_arithmetic_in_float64():
    """float64: every run, healthy or falling (step 4 of the first segment), agrees between the two
    checks to rounding after three epochs (36 steps), and falls at the same step."""
    lrs = [0.05, FALLS["float64"], 0.1, 0.02]
    step_carry, step_m = _train("step", lrs, dtype="float64")
    seg_carry, seg_m = _train("segment", lrs, dtype="float64")
    fell = int(seg_carry.diverged_at[1])
    assert 0 < fell < STEPS - 1, fell
    np.testing.assert_array_equal(np.asarray(seg_carry.diverged_at), np.asarray(step_carry.diverged_at))
    for a, b in zip(jax.tree.leaves((seg_carry, seg_m)), jax.tree.leaves((step_carry, step_m))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_the_redo_is_one_branch_for_the_batch_not_both_computed():
    """Under train.many the redo's predicate is reduced over the batch (RUNS_AXIS), so the program
    keeps a real ``cond``; a batched predicate would turn it into a select of both branches."""
    prog, spec, data = _setup("float32")
    n = 4
    keys = jnp.stack([jax.random.key(i) for i in range(n)])
    hyper = train.Hyper(jnp.full(n, 0.05), jnp.zeros(n), jnp.ones(n))
    carry = jax.vmap(lambda k: prog.init(k, 1.0, spec))(keys)
    for check, conds in (("segment", True), ("step", False)):
        p = dataclasses.replace(prog, check=check)
        text = str(jax.make_jaxpr(train.many(p.epoch, AXES, group=2, carry=True))(
            carry, hyper, keys, jnp.int32(0), *data))
        assert (" cond[" in text) == conds, check


def test_a_bad_divergence_check_is_refused_naming_what_is_accepted():
    c = tiny_config(divergence_check="sometimes")
    with pytest.raises(config_lib.ConfigError, match=r"train.divergence_check='sometimes'.*step.*segment"):
        config_lib.validate(c)


@pytest.mark.parametrize("n_runs, n_dev, per_call, group, expect", [
    (96, 2, 32, 2, (24, 2)),    # the main study's 96-run groups: no padding (was 2 x 32 x 2, 32 copies)
    (96, 1, 32, 2, (32, 3)),
    (64, 2, 32, 2, (32, 1)),
    (10, 2, 32, 2, (6, 1)),     # 2 copies: one group's worth at most per device
    (40, 2, 32, 16, (32, 1)),   # 8 x 32-wide groups cannot split 40 finer
    (7, 1, 32, 1, (7, 1)),
    (100, 4, 8, 4, (8, 4)),     # 4 slices of 4 x 8 = 128 for 100: fewer per device cannot cover them
    (96, 2, 32, None, (32, 2)),  # accelerators: one vmap of per_call runs whatever the devices
])
def test_layout_pads_a_devices_share_to_whole_groups_only(n_runs, n_dev, per_call, group, expect):
    per_device, n_slices = placement.layout(n_runs, n_dev, per_call, group)
    assert (per_device, n_slices) == expect
    assert per_device * n_dev * n_slices >= n_runs
    if group:
        assert per_device % group == 0 and per_device <= per_call
        assert (per_device - group) * n_dev * n_slices < n_runs  # one group fewer would not cover them


def test_a_workdir_saved_before_divergence_check_existed_is_the_same_config_at_step(tmp_path):
    """config.LATER_KEYS: a config.json saved without ``train.divergence_check`` (runs made before
    the key existed, which checked every step) is the same config as today's default, and its group
    ids are unchanged, so such a workdir resumes; at "segment" it is another config and program."""
    from research.engine import experiment, files, groups, workdir

    full = experiment.resolve(tiny_config())
    saved = full.to_dict()
    del saved["train"]["divergence_check"]
    files.write_json(str(tmp_path / "config.json"), files.as_json(saved))
    workdir.claim(full, str(tmp_path), overwrite=False)  # accepted: the same config
    assert "divergence_check" in files.read_json(str(tmp_path / "config.json"))["train"]

    segment = experiment.resolve(tiny_config(divergence_check="segment"))
    with pytest.raises(workdir.WorkdirError, match="different config"):
        workdir.claim(segment, str(tmp_path), overwrite=False)
    ids = lambda f: [g for g, _ in groups.groups_of(f)]
    assert all("divergence_check" not in arm.static_key for arm in full.arms.values())
    assert all("'divergence_check', 'segment'" in arm.static_key for arm in segment.arms.values())
    assert ids(full) != ids(segment)
