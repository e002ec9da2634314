"""Malformed configs, generated: every one is refused by ``config.validate`` with one line naming
the key, the value and what is accepted; through ``runner.run`` it is refused before any data is
read, anything compiled or any file written (a batch larger than the training split included).

tests/test_engine.py runs 13 bad overrides through the real command (exit 2, one stderr line); the
few here that go through the command's ``main`` in-process cover arm-level and structural cases.
"""

import math

import jax
import ml_collections
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from research.engine import config as config_lib, runner

# Each key with the values the project accepts, written out here independently of config.RULES.
INTS = {"seeds": 1, "seed": 0, "data.n_val": 1, "data.n_test": 1, "data.split_seed": 0, "data.limit_train": 0,
        "data.n": 1, "data.dim": 1, "train.batch_size": 1, "train.epochs": 1, "train.evals_per_epoch": 1,
        "train.runs_per_call": 1, "eval.hist_seeds": 0, "eval.hist_bins": 2}
# (low, high, low included, high included)
FLOATS = {"train.lr": (0, math.inf, False, False), "train.l2": (0, math.inf, True, False),
          "train.init_scale": (0, math.inf, True, False), "model.bn_momentum": (0, 1, True, False),
          "model.bn_eps": (0, math.inf, False, False), "eval.target_accuracy": (0, 1, False, True)}
NAMES = ("study", "data.name", "model.activation", "model.weight_init", "model.bias_init", "train.optimizer",
         "train.loss", "train.grad", "train.dtype")
ARM_KEYS = [k for k in list(INTS) + list(FLOATS) + list(NAMES) + ["model.hidden", "model.batchnorm"]
            if k.split(".")[0] in ("model", "train")]


def base() -> dict:
    """A small valid config as a plain dict."""
    c = config_lib.defaults()
    c.seeds = 2
    c.data.update({"limit_train": 128, "n_val": 50, "n_test": 50})
    c.model.hidden = (8,)
    c.train.update({"epochs": 1, "batch_size": 16})
    c.arms = {"a": {"model": {"weight_init": "he_normal"}, "train": {"lr": 0.05}},
              "b": {"model": {"activation": "tanh", "weight_init": "xavier_normal"}}}
    return c.to_dict()


def test_the_base_config_is_valid():
    config_lib.validate(ml_collections.ConfigDict(base()))


wrong_types = st.one_of(st.none(), st.booleans(), st.text(max_size=6), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=1))
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


def bad_int(key):
    lo = INTS[key]
    return st.one_of(st.integers(max_value=lo - 1), st.floats(allow_nan=True), non_finite,
                     st.booleans(), st.text(max_size=4), st.none())


def bad_float(key):
    lo, hi, lo_in, hi_in = FLOATS[key]
    below = st.floats(max_value=lo, exclude_max=lo_in, allow_nan=False, allow_infinity=True).filter(
        lambda v: v < lo or not lo_in)  # -0.0 == 0: accepted where 0 is
    out = [below, non_finite, st.booleans(), st.text(max_size=4), st.none(), st.just([0.1])]
    if math.isfinite(hi):
        out.append(st.floats(min_value=hi, exclude_min=hi_in, allow_nan=False, allow_infinity=False))
    return st.one_of(*out)


def bad_name(key):
    accepted = set(config_lib.RULES[key][1].removeprefix("one of ").split(", "))
    return st.one_of(st.text(min_size=0, max_size=10).filter(lambda s: s not in accepted),
                     st.integers(), st.none(), st.booleans())


BAD_HIDDEN = st.one_of(st.lists(st.integers(max_value=0), min_size=1, max_size=3),
                       st.lists(st.floats(min_value=0.5, max_value=9.5), min_size=1, max_size=2),
                       st.text(min_size=1, max_size=5), st.integers(), st.none(),
                       st.lists(st.booleans(), min_size=1, max_size=2))


def bad_value(key):
    if key in INTS:
        return bad_int(key)
    if key in FLOATS:
        return bad_float(key)
    if key in NAMES:
        return bad_name(key)
    if key == "model.hidden":
        return BAD_HIDDEN
    if key == "model.batchnorm":
        return st.one_of(st.integers(), st.text(max_size=4), st.none(), st.just(1.0))
    if key in ("model.weight_init_kwargs", "train.optimizer_kwargs"):
        return st.one_of(st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2), st.none())
    if key == "data.path":
        return st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2))
    raise KeyError(key)


VALUE_KEYS = sorted(list(INTS) + list(FLOATS) + list(NAMES) + ["model.hidden", "model.batchnorm", "data.path",
                                                              "model.weight_init_kwargs", "train.optimizer_kwargs"])


@st.composite
def bad_configs(draw):
    """(config dict, the key path the refusal must name, the bad value or None for unknown keys)."""
    c = base()
    kind = draw(st.sampled_from(["value", "value", "value", "arm_value", "unknown", "structure"]))
    if kind == "value":
        key = draw(st.sampled_from(VALUE_KEYS))
        value = draw(bad_value(key))
        section, _, leaf = key.rpartition(".")
        (c[section] if section else c)[leaf] = value
        return c, key, value
    if kind == "arm_value":
        key = draw(st.sampled_from(ARM_KEYS))
        value = draw(bad_value(key))
        arm = draw(st.sampled_from(["a", "b"]))
        section, leaf = key.split(".")
        c["arms"][arm].setdefault(section, {})[leaf] = value
        return c, f"arms.{arm}.{key}", value
    if kind == "unknown":
        name = draw(st.from_regex(r"[a-z_]{1,8}", fullmatch=True))
        where = draw(st.sampled_from(["", "data", "model", "train", "eval", "arms.a", "arms.a.model", "arms.b.train"]))
        node = c
        for part in filter(None, where.split(".")):
            node = node.setdefault(part, {})
        if name in node or (where == "" and name in c) or (where.startswith("arms.") and where.count(".") == 1
                                                             and name in ("model", "train")):
            name = name + "_x"
        node[name] = 1
        return c, f"{where}.{name}" if where else name, None
    choice = draw(st.sampled_from(["empty_arms", "arms_not_dict", "arm_not_dict", "section_not_dict", "seeds_zero",
                                   "nan_lr", "empty_width"]))
    if choice == "empty_arms":
        c["arms"] = {}
        return c, "arms", {}
    if choice == "arms_not_dict":
        c["arms"] = draw(st.one_of(st.lists(st.text(max_size=3), max_size=2), st.text(max_size=4), st.integers()))
        return c, "arms", c["arms"]
    if choice == "arm_not_dict":
        c["arms"]["a"] = draw(st.one_of(st.integers(), st.text(max_size=4), st.none()))
        return c, "arms.a", c["arms"]["a"]
    if choice == "section_not_dict":
        section = draw(st.sampled_from(["data", "model", "train", "eval"]))
        c[section] = draw(st.one_of(st.integers(), st.text(max_size=4), st.none()))
        return c, section, c[section]
    if choice == "seeds_zero":
        c["seeds"] = 0
        return c, "seeds", 0
    if choice == "nan_lr":
        c["arms"]["b"]["train"] = {"lr": math.nan}
        return c, "arms.b.train.lr", math.nan
    c["model"]["hidden"] = (8, 0)
    return c, "model.hidden", (8, 0)


def _plain_at(cfg, path):
    node = cfg
    for part in path.split("."):
        node = node[part]
    return config_lib.plain(node)


def assert_one_line_refusal(message: str, key: str, value_repr: str | None):
    assert "\n" not in message and message.startswith("config."), message
    assert f"config.{key}" in message, (key, message)
    assert "accepted: " in message, message
    if value_repr is not None:
        assert value_repr in message, (value_repr, message)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_configs())
def test_every_malformed_config_is_refused_in_one_line_naming_key_value_and_accepted(case):
    raw, key, value = case
    cfg = ml_collections.ConfigDict(raw)
    with pytest.raises(config_lib.ConfigError) as err:
        config_lib.validate(cfg)
    value_repr = None if value is None else repr(_plain_at(cfg, key))
    assert_one_line_refusal(str(err.value), key, value_repr)


# ----------------------------------------------------------------------------- through the runner

_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda name, *_a, **_k: _COMPILES.append(name) if name == "/jax/core/compile/backend_compile_duration" else None)


@pytest.fixture
def no_data_read(monkeypatch):
    monkeypatch.setattr(runner.data_lib, "load", lambda *_: pytest.fail("data was read for a refused config"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad_configs())
def test_the_runner_refuses_before_reading_compiling_or_writing(tmp_path, no_data_read, case):
    raw, key, _ = case
    workdir = tmp_path / "w"
    before = len(_COMPILES)
    with pytest.raises(config_lib.ConfigError, match=f"config.{key}"):
        runner.run(ml_collections.ConfigDict(raw), str(workdir), progress=False, log=lambda *_: None)
    assert len(_COMPILES) == before
    assert not workdir.exists()


@pytest.mark.parametrize("batch, limit", [(100, 128), (64, 0)])
def test_a_batch_larger_than_the_split_is_refused_before_data_compile_or_file(tmp_path, no_data_read, batch, limit):
    raw = base()
    raw["train"].update({"batch_size": batch, "evals_per_epoch": 2})
    raw["data"].update({"limit_train": limit, "n_val": 2400, "n_test": 2500})  # mnist5k: 100 training examples
    before = len(_COMPILES)
    with pytest.raises(config_lib.ConfigError) as err:
        runner.run(ml_collections.ConfigDict(raw), str(tmp_path / "w"), progress=False, log=lambda *_: None)
    n_train = min(limit or 100, 100)
    assert str(err.value) == (f"config.train.batch_size={batch} is invalid; accepted: at most {n_train // 2} (the "
                              f"training split has {n_train} examples and evals_per_epoch=2 needs that many "
                              "minibatches per epoch)")
    assert len(_COMPILES) == before and not (tmp_path / "w").exists()


CLI_BAD = [
    # (overrides, what the one line must contain) -- cases test_engine's BAD list does not hold
    (["--config.train.epochs=0"], "config.train.epochs=0 is invalid; accepted: an integer >= 1"),
    (["--config.train.lr=inf"], "config.train.lr=inf is invalid; accepted: a finite number in (0, inf)"),
    (["--config.data.n_val=-5"], "config.data.n_val=-5 is invalid; accepted: an integer >= 1"),
    (["--config.eval.target_accuracy=1.5"],
     "config.eval.target_accuracy=1.5 is invalid; accepted: a finite number in (0, 1]"),
    (["--config.train.dtype=float16"], "config.train.dtype='float16' is invalid; accepted: one of float32, float64"),
    (["--config.arms['relu-he_normal'].train.lr=nan"], "config.arms.relu-he_normal.train.lr=nan is invalid"),
    (["--config.arms['relu-zeros'].model.activation=swish"], "config.arms.relu-zeros.model.activation='swish' is"),
    (["--config.arms['relu-zeros'].model.hidden=(3,0)"], "bad override --config.arms['relu-zeros'].model.hidden=(3,0): "
                                                         "the config has no key 'hidden' there; accepted: keys"),
    (["--config.arms.relu-zeros.train.lr=0.1"], "bad override --config.arms.relu-zeros.train.lr=0.1: 'relu-zeros' is "
                                                "not a Python name, so the flag cannot reach it; accepted: brackets"),
    (["--config.data.limit_train=100", "--config.train.batch_size=60"],
     "config.train.batch_size=60 is invalid; accepted: at most 25 (the training split has 100 examples"),
]


@pytest.mark.parametrize("overrides, needle", CLI_BAD)
def test_the_command_refuses_in_one_line_with_exit_2(tmp_path, capsys, overrides, needle):
    from experiments import run as run_cli

    before = len(_COMPILES)
    workdir = tmp_path / "w"
    rc = run_cli.main(["run", "--config", "configs/init_study.py", "--workdir", str(workdir), *overrides])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(_COMPILES) == before and not workdir.exists()
