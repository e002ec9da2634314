"""Verdict margins live in each study's config (``config.params.margins``), fixed before the run.

One convention for every built-in study: ``config.py`` holds ``MARGINS`` (``{name: number}``, each
entry commented, the rationale in the config's docstring) and sets ``c.params.margins`` from it;
``study.py`` declares ``PARAMS["margins"]`` with :func:`research.engine.claims.margins_param` and
reads the values with :func:`research.engine.claims.margins`. Here: every study follows it, the
config refuses a bad margin with one line, a config without margins (an older ``config.json``)
gets the defaults, a partial override keeps the rest, and no study's code compares an interval
with a numeric literal. That a changed margin changes the verdict and the printed text is tested
per study beside its other verdict tests (tests/test_claims_*.py, tests/test_study_weight_scale.py).
"""

import ast
import importlib
import math
import pathlib

import ml_collections
import pytest

import claimkit
from research.engine import config as config_lib, experiment, study as study_lib
from research.engine.claims import margins, margins_param

ROOT = pathlib.Path(__file__).resolve().parent.parent
STUDIES = sorted(p.parent.name for p in (ROOT / "research" / "studies").glob("*/study.py"))


def test_every_built_in_study_is_covered():
    assert len(STUDIES) == 13 and "deep_relu" in STUDIES and "width_transfer" in STUDIES


@pytest.mark.parametrize("name", STUDIES)
def test_study_margins_are_declared_and_set_by_its_config(name):
    study = study_lib.load(name)
    config_module = importlib.import_module(f"research.studies.{name}.config")
    default, (ok, _) = study.PARAMS["margins"]
    assert default == config_module.MARGINS and default, name
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in default.values())
    c = study.get_config()
    assert c.params.margins.to_dict() == config_module.MARGINS  # written in the config, not only defaulted
    assert "Margins (``params.margins``" in config_module.__doc__  # and documented there
    assert ok(c.params.margins.to_dict())
    assert dict(experiment.resolve(c).params.margins) == config_module.MARGINS


@pytest.mark.parametrize("name", STUDIES)
def test_a_bad_margin_is_refused_in_one_line(name):
    c = study_lib.load(name).get_config()
    key = next(iter(c.params.margins.keys()))
    bad_name = ml_collections.ConfigDict(c.to_dict())
    bad_name.params.margins.not_a_margin = 0.1
    with pytest.raises(config_lib.ConfigError, match=r"^config\.params\.margins=.* is invalid; accepted: .*" + key):
        config_lib.validate(bad_name)
    bad_value = ml_collections.ConfigDict(c.to_dict())
    bad_value.params.margins[key] = math.inf
    with pytest.raises(config_lib.ConfigError, match=r"^config\.params\.margins="):
        config_lib.validate(bad_value)


def test_a_config_without_margins_gets_the_defaults_and_a_partial_override_keeps_the_rest():
    from research.studies.deep_relu.config import MARGINS

    c = study_lib.load("deep_relu").get_config()
    raw = c.to_dict()
    del raw["params"]["margins"]  # a config.json written before margins moved into the config
    full = experiment.resolve(ml_collections.ConfigDict(raw))
    assert margins(full, MARGINS) == MARGINS
    full = claimkit.resolved("deep_relu", params={"margins": {"variance_tol_per_layer": 0.1}})
    assert margins(full, MARGINS) == {**MARGINS, "variance_tol_per_layer": 0.1}
    partial = ml_collections.ConfigDict(raw)
    partial.params.margins = {"he_learns_min": 0.6}  # replaces the dict: the others still default
    assert margins(experiment.resolve(partial), MARGINS) == {**MARGINS, "he_learns_min": 0.6}


def test_margins_param_rule():
    default, (ok, accepted) = margins_param({"a": 0.1, "b": 2})
    assert default == {"a": 0.1, "b": 2}
    assert ok({}) and ok({"a": 0.5}) and ok({"a": 1, "b": -3.0})
    assert not ok({"c": 0.1}) and not ok({"a": True}) and not ok({"a": "0.1"}) and not ok({"a": math.nan})
    assert not ok(0.1) and "a, b" in accepted


def _interval_compared_with_a_literal(tree) -> list[int]:
    """Line numbers where ``x["ci_low"]`` / ``x["ci_high"]`` is compared directly with a number literal."""
    def is_ci(node):
        return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
            node.slice.value in ("ci_low", "ci_high")

    def is_number(node):
        if isinstance(node, ast.UnaryOp):
            node = node.operand
        return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and \
            not isinstance(node.value, bool)

    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(is_ci(o) for o in operands) and any(is_number(o) for o in operands):
                hits.append(node.lineno)
    return hits


@pytest.mark.parametrize("name", STUDIES)
def test_no_study_compares_an_interval_with_a_literal(name):
    path = ROOT / "research" / "studies" / name / "study.py"
    assert _interval_compared_with_a_literal(ast.parse(path.read_text())) == [], path


def test_the_literal_scan_finds_one():
    assert _interval_compared_with_a_literal(ast.parse('ok = s["ci_high"] < 0.2 and -0.03 <= s["ci_low"]')) == [1, 1]
