"""Settings a study fixes per data source (research/studies/sourced.py): the table's rule, the lookup
from the data read, and the studies that use it (batchnorm's faster target and evaluation interval;
optimizers' and hparam_search's arm-table target). No Fashion-MNIST needed: the data source is faked."""

from types import SimpleNamespace

import numpy as np
import pytest

from research.engine import data as data_lib, experiment
from research.engine.config import ConfigError
from research.studies import sourced
from research.studies.batchnorm import study as bn_study

import claimkit


def _full(study, **params):
    from research.engine import study as study_lib

    c = study_lib.load(study).get_config()
    c.seeds = 4
    for k, v in params.items():
        c.params[k] = v  # replaced, not merged into the default table
    return experiment.resolve(c)


class _NoTrain:
    """A ctx whose data source is ``source`` and that fails the test if anything trains or loads."""

    def __init__(self, full, source):
        self.full, self.data_source = full, source

    def train(self, *a, **k):
        raise AssertionError("trained before the config was refused")

    @property
    def dataset(self):
        raise AssertionError("loaded data before the config was refused")


@pytest.mark.parametrize("value,ok", [({}, True), ({"mnist5k": 0.9, "fashion_mnist": 0.85}, True),
                                      ({"mnist5k": 0.0}, False), ({"mnist5k": 1.5}, False),
                                      ({"mnist5k": True}, False), ({"": 0.5}, False), ((0.9,), False)])
def test_table_rule_accepts_source_to_number_in_range(value, ok):
    rule, accepted = sourced.table_rule("a target")
    assert rule(value) is ok
    assert "data source" in accepted


def test_lookup_reads_the_entry_of_the_data_read_and_refuses_a_missing_one():
    full = _full("optimizers")
    assert dict(full.params.targets) == {"mnist5k": 0.9, "fashion_mnist": 0.85}
    assert sourced.lookup(full, "targets", "fashion_mnist", None) == 0.85
    assert sourced.lookup(full, "targets", "mnist5k", None) == 0.9
    with pytest.raises(ConfigError, match="invalid for the data read, 'mnist_idx'"):
        sourced.lookup(full, "targets", "mnist_idx", None)
    # an empty table is "not per source": the config's own value
    empty = _full("optimizers", targets={})
    assert sourced.target_for(SimpleNamespace(full=empty, data_source="mnist_idx")) == empty.eval.target_accuracy


def test_the_saved_target_is_what_reports_read_back():
    full = _full("optimizers")
    assert sourced.target(full, {sourced.TARGET: np.asarray(0.85)}) == 0.85
    assert sourced.target(full, {}) == full.eval.target_accuracy  # a workdir from before the table
    assert sourced.with_target(full, {sourced.TARGET: np.asarray(0.85)}).eval.target_accuracy == 0.85
    assert full.eval.target_accuracy == 0.9  # unchanged


@pytest.mark.parametrize("study", ["batchnorm", "optimizers", "hparam_search"])
def test_a_source_missing_from_the_table_is_refused_before_anything_trains(study):
    from research.engine import study as study_lib

    with pytest.raises(ConfigError, match="params.targets"):
        study_lib.load(study).compute(_NoTrain(_full(study), "mnist_idx"))


@pytest.mark.parametrize("source,target", [("mnist5k", 0.85), ("fashion_mnist", 0.80)])
def test_batchnorm_faster_uses_the_target_of_the_data_read(source, target):
    """The claim reads the target the run saved: a curve at 0.82 from step 100 and 0.875 from step 300
    reaches 0.80 at 100 but 0.85 only at 300."""
    full = _full("batchnorm")
    assert sourced.lookup(full, "targets", source, None) == target
    steps = np.array([100, 200, 300, 400])
    res = {"steps": steps}
    for name, curve in (("no_bn", [0.5, 0.5, 0.875, 0.875]), ("bn", [0.82, 0.82, 0.875, 0.875]),
                        ("bn_lr_x5", [0.82, 0.82, 0.875, 0.875]), ("no_bn_lr_x5", [0.1] * 4)):
        res.update({f"{name}/val_acc": np.tile(curve, (4, 1)), f"{name}/diverged_at": np.full(4, -1),
                    f"{name}/test_acc": np.full(4, curve[-1]),
                    f"{name}/unit_q": np.tile(np.arange(4.0)[:, None], (4, 1, 3)),
                    f"{name}/step_seconds": np.ones(8)})
    res[sourced.TARGET] = np.asarray(target)
    c = claimkit.claims_by_id("batchnorm", full, res)["batchnorm.faster"]
    # no BN reaches either target at step 300; BN reaches 0.80 at 100, 0.85 at 300
    assert c.measured == pytest.approx(3.0 if target == 0.80 else 1.0)
    assert f"{target:.0%}" in c.claim


def test_batchnorm_evaluates_every_66_steps_on_either_data_set(monkeypatch):
    full = _full("batchnorm", eval_steps=66)
    monkeypatch.setattr(data_lib, "train_size", lambda cfg: 4000)    # the 5k subset: 66 steps per epoch
    assert bn_study.evals_per_epoch(full) == 1
    monkeypatch.setattr(data_lib, "train_size", lambda cfg: 59500)   # Fashion-MNIST: 991 steps per epoch
    assert bn_study.evals_per_epoch(full) == 15                      # every 66 steps
    monkeypatch.setattr(data_lib, "train_size", lambda cfg: 240)     # a tiny split: at least one per epoch
    assert bn_study.evals_per_epoch(full) == 1
    monkeypatch.setattr(data_lib, "train_size", lambda cfg: None)    # size unknown: the config's own
    assert bn_study.evals_per_epoch(full) == 0
    monkeypatch.setattr(data_lib, "train_size", lambda cfg: 59500)
    assert bn_study.evals_per_epoch(_full("batchnorm", eval_steps=0)) == 0  # off


def test_batchnorm_default_config_fixes_targets_for_both_sources_and_the_interval():
    full = _full("batchnorm")
    assert full.data.name == "fashion_mnist_or_mnist5k"
    assert dict(full.params.targets) == {"mnist5k": 0.85, "fashion_mnist": 0.80}
    assert full.params.eval_steps == 66


@pytest.mark.parametrize("study", ["optimizers", "hparam_search"])
def test_full_size_data_by_default_with_the_5k_regime_kept_by_the_epoch_cap(study):
    full = _full(study)
    assert full.data.name == "fashion_mnist_or_mnist5k"
    assert full.train.epochs == 3 and full.train.max_steps >= 600
    # on the 5k subset (62 steps per epoch) the 3-epoch cap binds before max_steps
    assert (4000 // full.train.batch_size) * full.train.epochs < full.train.max_steps
