"""The signal_theory study: its mean-field maths against closed forms, its measurement against the
theory on a wide layer, and a tiny run through the real command."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from studyrun import run_and_check

from research.lib import activations
from research.studies.signal_theory import study as st

N_POINTS = 100


def _params(**overrides):
    p = {k: v for k, (v, _) in st.PARAMS.items()}
    p.update(overrides)
    return ml_collections.ConfigDict(p)


# --- the length map --------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [0.0, 0.3, 1.0, 7.5])
def test_linear_length_map_is_affine(q):
    # phi(u) = u: q' = sigma_w2 q + sigma_b2 exactly (the quadrature is exact for polynomials)
    assert st.length_map(q, 1.7, 0.2, "linear", N_POINTS) == pytest.approx(1.7 * q + 0.2, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("q", [0.01, 0.5, 3.0])
def test_relu_length_map_halves(q):
    # E[relu(sqrt(q) z)^2] = q / 2: q' = sigma_w2 q / 2 + sigma_b2
    assert st.length_map(q, 2.4, 0.05, "relu", N_POINTS) == pytest.approx(2.4 * q / 2 + 0.05, rel=1e-12)


def test_relu_fixed_point_chi1_and_boundary_in_closed_form():
    assert st.fixed_point(1.5, 0.05, "relu", N_POINTS) == pytest.approx(0.05 / (1 - 0.75), rel=1e-12)
    assert st.fixed_point(2.5, 0.05, "relu", N_POINTS) == math.inf  # the length grows without bound
    for s in (0.5, 2.0, 3.3):
        assert st.chi1(s, 0.05, "relu", N_POINTS) == pytest.approx(s / 2, rel=1e-12)
    assert st.critical_sigma_w2(0.05, "relu", N_POINTS) == pytest.approx(2.0, rel=1e-10)
    assert st.critical_sigma_w2(0.1, "linear", N_POINTS) == pytest.approx(1.0, rel=1e-10)


def test_tanh_fixed_point_is_fixed_and_trajectory_converges_to_it():
    for s, b in ((1.0, 0.05), (2.5, 0.05), (4.0, 0.3), (1.5, 0.0)):
        q = st.fixed_point(s, b, "tanh", N_POINTS)
        assert q > 0
        assert st.length_map(q, s, b, "tanh", N_POINTS) == pytest.approx(q, rel=1e-12)
        traj = st.length_trajectory(3.0, 60, s, b, "tanh", N_POINTS)
        assert traj[0] == pytest.approx(s * 3.0 + b)
        assert traj[-1] == pytest.approx(q, rel=1e-6)
    assert st.fixed_point(0.8, 0.0, "tanh", N_POINTS) == 0.0  # ordered, no bias: the signal dies


def test_tanh_small_q_expansion():
    # E[tanh(sqrt(q) z)^2] = q - 2 q^2 + 17/3 q^3 + O(q^4) (tanh^2 u = u^2 - 2/3 u^4 + 17/45 u^6; E z^4 = 3, E z^6 = 15)
    q = 1e-3
    assert (st.length_map(q, 1.0, 0.0, "tanh", N_POINTS) - (q - 2 * q**2 + 17 / 3 * q**3)) == pytest.approx(0, abs=q**4 * 100)


def test_quadrature_converges_in_the_number_of_points():
    vals = [st.length_map(0.7, 2.0, 0.05, "tanh", n) for n in (10, 20, 50, 100, 200)]
    errs = [abs(v - vals[-1]) for v in vals[:-1]]
    assert all(a > b or b < 1e-14 for a, b in zip(errs, errs[1:]))  # monotone to round-off
    assert errs[-1] < 1e-13
    roots = [st.critical_sigma_w2(0.05, "tanh", n) for n in (50, 100, 200)]
    assert abs(roots[1] - roots[2]) < 1e-10 < abs(roots[0] - roots[2])


def test_critical_sigma_w2_tanh_is_a_root_of_chi1():
    root = st.critical_sigma_w2(0.05, "tanh", N_POINTS)
    assert st.chi1(root, 0.05, "tanh", N_POINTS) == pytest.approx(1.0, abs=1e-10)
    assert st.chi1(root * 0.99, 0.05, "tanh", N_POINTS) < 1 < st.chi1(root * 1.01, 0.05, "tanh", N_POINTS)
    assert root == pytest.approx(1.76, abs=0.01)  # Poole et al. 2016 / Schoenholz et al. 2017's value
    # sigma_b2 = 0: q* = 0 and chi1 = sigma_w2 tanh'(0)^2 = sigma_w2 below the boundary, so it sits at 1
    assert st.critical_sigma_w2(0.0, "tanh", N_POINTS) == pytest.approx(1.0, abs=1e-6)


# --- the correlation map -----------------------------------------------------------------------------

def test_linear_correlation_map_closed_form():
    s, b, q = 1.3, 0.2, 0.8
    for c in (0.0, 0.4, 0.95):
        want = (s * q * c + b) / (s * q + b)
        assert st.correlation_map(c, q, s, b, "linear", N_POINTS) == pytest.approx(want, rel=1e-12)


def test_relu_correlation_map_is_the_arc_cosine_kernel():
    # E[relu(u1) relu(u2)] = q / (2 pi) (sin t + (pi - t) cos t), t = arccos c (Cho & Saul 2009)
    # The kink along u = 0 makes tensor Gauss-Hermite converge only like 1/n here (smooth phi: spectrally).
    s, b, q = 2.0, 0.1, 1.5
    for c in (0.0, 0.5, 0.9):
        t = math.acos(c)
        want = (s * q / (2 * math.pi) * (math.sin(t) + (math.pi - t) * c) + b) / (s * q / 2 + b)
        errs = [abs(st.correlation_map(c, q, s, b, "relu", n) - want) for n in (50, 100, 200)]
        assert errs[0] > errs[1] > errs[2]
        assert errs[2] < 0.3 / 200


def test_correlation_map_slope_at_one_is_chi1():
    for s in (1.0, 2.5):
        q = st.fixed_point(s, 0.05, "tanh", N_POINTS)
        assert st.correlation_map(1.0, q, s, 0.05, "tanh", N_POINTS) == pytest.approx(1.0, abs=1e-15)
        g = 1e-7  # gap_map(g) / g -> chi1 as g -> 0, computed through the gap without cancellation
        slope = st.gap_map(g, q, s, 0.05, "tanh", N_POINTS)[0] / g
        assert slope == pytest.approx(st.chi1(s, 0.05, "tanh", N_POINTS), rel=1e-5)


def test_chaotic_correlation_fixed_point_and_its_slope():
    s, b = 2.5, 0.05
    q = st.fixed_point(s, b, "tanh", N_POINTS)
    c = st.correlation_fixed_point(s, b, "tanh", N_POINTS)
    assert 0 < c < 1
    assert st.correlation_map(c, q, s, b, "tanh", N_POINTS) == pytest.approx(c, abs=1e-10)
    h = 1e-5
    fd = (st.correlation_map(c + h, q, s, b, "tanh", N_POINTS) - st.correlation_map(c - h, q, s, b, "tanh", N_POINTS)) / (2 * h)
    assert st.chi_c(s, b, "tanh", N_POINTS) == pytest.approx(fd, rel=1e-6)
    assert st.chi_c(s, b, "tanh", N_POINTS) < 1  # c* is stable
    # ordered phase: c* = 1 and chi_c = chi1
    assert st.correlation_fixed_point(1.2, b, "tanh", N_POINTS) == 1.0
    assert st.chi_c(1.2, b, "tanh", N_POINTS) == st.chi1(1.2, b, "tanh", N_POINTS)


def test_depth_scale():
    assert st.depth_scale(math.exp(-0.25)) == pytest.approx(4.0)
    assert st.depth_scale(1.0) == math.inf
    assert math.isnan(st.depth_scale(1.2))


def test_gap_trajectory_first_layer_and_fixed_point():
    s, b = 4.0, 0.05
    q0 = st.entry_length(s, b, "tanh", N_POINTS)
    q = st.fixed_point(s, b, "tanh", N_POINTS)
    assert s * q0 + b == pytest.approx(q)
    gaps = st.gap_trajectory(0.3, q0, 200, s, b, "tanh", N_POINTS)
    assert gaps[0] == pytest.approx(s * q0 * 0.7 / q)
    assert 1 - gaps[-1] == pytest.approx(st.correlation_fixed_point(s, b, "tanh", N_POINTS), abs=1e-9)


def test_numpy_activations_match_the_models():
    u = np.linspace(-4, 4, 81) + 1e-3  # off relu's kink
    for name, (fn, grad) in st.NP_ACTIVATIONS.items():
        act = activations.get(name)
        a = act.fn(jnp.asarray(u))
        np.testing.assert_allclose(fn(u), np.asarray(a), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad(u), np.asarray(act.grad(jnp.asarray(u), a)), rtol=1e-12, atol=1e-14)


# --- estimators on the measurements -----------------------------------------------------------------

def test_crossing_interpolates_in_log_chi():
    grid = np.array([1.0, 1.5, 2.0, 2.5])
    chi = np.exp(0.8 * (grid - 1.7))  # ln chi linear: the interpolation is exact
    assert st._crossing(grid, chi) == pytest.approx(1.7, rel=1e-12)
    assert math.isnan(st._crossing(grid, np.full(4, 0.9)))


def test_fit_xi_recovers_an_exponential_with_its_own_intercepts():
    layers = np.arange(30)
    dist = np.stack([0.3 * np.exp(-layers / 6.0), 0.02 * np.exp(-layers / 6.0)])
    window = np.ones_like(dist, bool)
    window[:, :3] = False
    assert st._fit_xi(dist, window) == pytest.approx(6.0, rel=1e-10)


def test_pairs_have_the_asked_input_correlation():
    p = _params(inputs_per_group=1, tangents=1, pair_replicates=3, critical_grid=(1.0, 2.0))
    rows, tans = st._directions(jax.random.key(0), p, 256)
    lay = st._layout(p)
    first = rows[lay["len"] + lay["tan"]:][: lay["pair"]]
    second = rows[lay["len"] + lay["tan"] + lay["pair"]:]
    c = np.asarray(jnp.sum(first * second, axis=1))
    want = np.tile(np.repeat(p.corr_c0, p.pair_replicates), len(p.corr_sigma_w2))
    np.testing.assert_allclose(c, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(rows), axis=1), 1.0, rtol=1e-5)
    assert tans.shape == (lay["tan"], 256)


def test_measured_second_layer_length_matches_theory():
    """One wide tanh layer on top of the input layer, a fixed key: the measured E[h^2] of layer 2 (mean
    over n units and B nearly orthogonal inputs) is within 4 standard errors sqrt(2 / (n B)) of
    length_map(q^1), q^1 = sigma_w2 q0 + sigma_b2 (the finite-width bias is O(1/n), far smaller)."""
    s, b, q0, n, batch = 2.5, 0.05, 1.0, 2000, 64
    p = _params(length_sigma_w2=(s,), input_q0=(q0,), inputs_per_group=batch, critical_grid=(1.0, 2.0),
                tangents=1, corr_sigma_w2=(s,), corr_c0=(0.5,), pair_replicates=1, sigma_b2=b)
    rows = [("tanh", st._arm_rows(p, "tanh"))]
    out = jax.jit(lambda k: st._measure_seed(k, p, (n, n, n), rows))(jax.random.key(3))[0]
    q_hat = np.asarray(out["q_hat"]).mean(axis=1)
    q1 = s * q0 + b
    se = math.sqrt(2 / (n * batch))
    assert q_hat[0] / q1 - 1 == pytest.approx(0, abs=4 * se)
    assert q_hat[1] / st.length_map(q1, s, b, "tanh", N_POINTS) - 1 == pytest.approx(0, abs=4 * se)
    # the pair's measured correlation at layer 1 is the theory's, 1 - c^1 = sigma_w2 q0' (1 - c0) / q*
    gap1 = float(np.asarray(out["gap_hat"])[0, 0])
    assert gap1 == pytest.approx(st.gap_trajectory(0.5, st.entry_length(s, b, "tanh", N_POINTS), 1, s, b, "tanh",
                                                   N_POINTS)[0], rel=0.1)


def test_measured_chi1_of_a_linear_net_is_sigma_w2():
    # phi' = 1: the tangent's squared length grows by sigma_w2 * chi^2_n / n per layer
    p = _params(length_sigma_w2=(1.0,), input_q0=(1.0,), inputs_per_group=1, critical_grid=(0.5, 2.0),
                tangents=16, corr_sigma_w2=(1.0,), corr_c0=(0.5,), pair_replicates=1)
    n = 1000
    rows = [("linear", st._arm_rows(p, "linear"))]
    out = jax.jit(lambda k: st._measure_seed(k, p, (n,) * 5, rows))(jax.random.key(1))[0]
    chi = np.asarray(out["chi_hat"]).reshape(3, 2, 16).mean(axis=(0, 2))  # layers 2-4 over 1-3, grid, tangents
    se = math.sqrt(2 / n) / math.sqrt(3 * 16)
    np.testing.assert_allclose(chi, [0.5, 2.0], rtol=4 * se)


# --- the study through the real command -----------------------------------------------------------

@pytest.mark.slow  # the whole study through the CLI (10-25 s); .ci/run runs the slow marker too
def test_tiny_run_reports_its_claims(tmp_path):
    overrides = ["--config.seeds=2", "--config.data.dim=48", "--config.model.hidden=(48,48,48,48)",
                 "--config.params.inputs_per_group=2", "--config.params.tangents=2",
                 "--config.params.pair_replicates=1", "--config.params.phase_points=3",
                 "--config.params.critical_grid=(1.2,1.8,2.4)", "--config.params.corr_c0=(0.0,0.9)"]
    summary = run_and_check(tmp_path, "signal_theory", overrides,
                            {"signal_theory.length_map_error", "signal_theory.critical_sigma_w2"})
    assert set(summary["arms"]) == {f"{a} sigma_w2={s:g}" for a in ("tanh", "relu") for s in (1.0, 1.3, 2.5, 4.0)}
