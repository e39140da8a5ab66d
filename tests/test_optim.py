"""Optimizers, clipping and schedules against hand computations from their equations."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend
from minis2s.optim import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    Constant,
    Exponential,
    LinearWarmup,
    Momentum,
    Nesterov,
    RMSprop,
    StepDecay,
    clip_grad_norm,
    global_norm,
    make_optimizer,
    make_schedule,
)

SHAPES = {"W": (3, 2), "b": (3,)}


def make_params(rng):
    return {k: to_dev(rng.standard_normal(s)) for k, s in SHAPES.items()}


def make_grads(rng):
    return {k: to_dev(rng.standard_normal(s)) for k, s in SHAPES.items()}


def snapshot(d):
    return {k: host(v).copy() for k, v in d.items()}


# -- scalar golden values worked out by hand ----------------------------------------------------
# p0 = 1, the same gradient g = 2 (or 1) twice; the numbers are in the comments.
HAND = [
    # SGD, lr 0.1, g = 2:           p1 = 1 - 0.1*2 = 0.8,  p2 = 0.6
    ("sgd", {"lr": 0.1}, 2.0, 0.8, 0.6),
    # momentum, lr 0.1, mu 0.9, g = 1: v1 = 1, p1 = 0.9; v2 = 1.9, p2 = 0.9 - 0.19 = 0.71
    ("momentum", {"lr": 0.1, "momentum": 0.9}, 1.0, 0.9, 0.71),
    # Nesterov: v1 = 1, p1 = 1 - 0.1*(1 + 0.9) = 0.81; v2 = 1.9, p2 = 0.81 - 0.1*(1 + 1.71)
    ("nesterov", {"lr": 0.1, "momentum": 0.9}, 1.0, 0.81, 0.539),
    # Adagrad, lr 0.01, g = 2: G1 = 4, p1 = 1 - 0.01*2/2 = 0.99; G2 = 8, p2 = 0.99 - 0.02/sqrt(8)
    ("adagrad", {"lr": 0.01, "eps": 1e-10}, 2.0, 0.99, 0.99 - 0.02 / math.sqrt(8.0)),
    # RMSprop, lr 0.01, alpha 0.99, g = 2: s1 = 0.04, p1 = 1 - 0.02/0.2 = 0.9;
    #   s2 = 0.99*0.04 + 0.04 = 0.0796, p2 = 0.9 - 0.02/sqrt(0.0796)
    ("rmsprop", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, 2.0, 0.9, 0.9 - 0.02 / math.sqrt(0.0796)),
    # Adam, lr 0.1, the same g twice: m_hat = g and v_hat = g^2 at every step, so each
    # step is lr * g / |g| = 0.1 (up to eps): p1 = 0.9, p2 = 0.8
    ("adam", {"lr": 0.1}, 2.0, 0.9, 0.8),
]


@pytest.mark.parametrize("name, kw, g, p1, p2", HAND, ids=[h[0] for h in HAND])
def test_two_steps_match_hand_computed_scalars(xp, name, kw, g, p1, p2):
    params = {"p": to_dev([1.0])}
    opt = make_optimizer(name, params, **kw)
    opt.step({"p": to_dev([g])})
    np.testing.assert_allclose(host(params["p"]), [p1], rtol=1e-7)
    opt.step({"p": to_dev([g])})
    np.testing.assert_allclose(host(params["p"]), [p2], rtol=1e-7)


# -- array updates against plain-NumPy replays of the equations ------------------------------
def replay(name, p, grads, kw):
    """The update equations in plain NumPy, step after step (independent of minis2s)."""
    p = p.copy()
    a = np.zeros_like(p)  # first slot (velocity / m / square avg / sum of squares)
    b = np.zeros_like(p)  # second slot (Adam's v)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            p = p - kw["lr"] * g
        elif name == "momentum":
            a = kw["momentum"] * a + g
            p = p - kw["lr"] * a
        elif name == "nesterov":
            a = kw["momentum"] * a + g
            p = p - kw["lr"] * (g + kw["momentum"] * a)
        elif name == "rmsprop":
            a = kw["alpha"] * a + (1 - kw["alpha"]) * g**2
            p = p - kw["lr"] * g / (np.sqrt(a) + kw["eps"])
        elif name == "adagrad":
            a = a + g**2
            p = p - kw["lr"] * g / (np.sqrt(a) + kw["eps"])
        elif name == "adam":
            b1, b2 = kw["betas"]
            a = b1 * a + (1 - b1) * g
            b = b2 * b + (1 - b2) * g**2
            p = p - kw["lr"] * (a / (1 - b1**t)) / (np.sqrt(b / (1 - b2**t)) + kw["eps"])
    return p


KW = {
    "sgd": {"lr": 0.05},
    "momentum": {"lr": 0.05, "momentum": 0.8},
    "nesterov": {"lr": 0.05, "momentum": 0.8},
    "rmsprop": {"lr": 0.01, "alpha": 0.9, "eps": 1e-3},
    "adagrad": {"lr": 0.1, "eps": 1e-3},
    "adam": {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-3},
}


@pytest.mark.parametrize("name", list(KW))
def test_steps_match_numpy_replay_of_the_equations(xp, rng, name):
    params = make_params(rng)
    start = snapshot(params)
    grads = [make_grads(rng) for _ in range(3)]
    opt = make_optimizer(name, params, **KW[name])
    for g in grads:
        opt.step(g)
    assert opt.t == 3
    for k in SHAPES:
        expected = replay(name, start[k], [host(g[k]) for g in grads], KW[name])
        np.testing.assert_allclose(host(params[k]), expected, rtol=1e-12, atol=1e-15)


def test_adam_first_step_is_lr_times_sign_of_gradient(xp):
    # m_hat = g, v_hat = g^2 after one step: the step is lr * g / (|g| + eps)
    params = {"p": to_dev(np.zeros(4))}
    Adam(params, lr=1e-3).step({"p": to_dev([2.0, -3.0, 0.5, -1e-2])})
    np.testing.assert_allclose(host(params["p"]), [-1e-3, 1e-3, -1e-3, 1e-3], rtol=1e-5)


def test_defaults_follow_pytorch(xp):
    params = {"p": to_dev(np.zeros(2))}
    adam = Adam(params)
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (1e-3, 0.9, 0.999, 1e-8)
    assert RMSprop(params).lr == 1e-2 and RMSprop(params).alpha == 0.99
    assert Adagrad(params).eps == 1e-10
    assert Momentum(params).momentum == 0.9


def test_update_is_in_place_and_keeps_float32(xp, rng):
    params = {k: to_dev(v, np.float32) for k, v in snapshot(make_params(rng)).items()}
    same = dict(params)
    opt = Adam(params, lr=0.1)
    opt.step({k: to_dev(v, np.float32) for k, v in snapshot(make_grads(rng)).items()})
    for k in params:
        assert params[k] is same[k]  # the very same arrays were updated
        assert params[k].dtype == np.float32
        assert opt.state[k]["m"].dtype == np.float32


def test_lr_attribute_is_used_at_each_step(xp):
    params = {"p": to_dev([1.0])}
    opt = SGD(params, lr=0.1)
    opt.lr = 0.5
    opt.step({"p": to_dev([1.0])})
    np.testing.assert_allclose(host(params["p"]), [0.5])
    with pytest.raises(ValueError, match="lr must be a finite number"):
        opt.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.lr = float("nan")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_minimises_a_quadratic(xp, name):
    # f(p) = 0.5 ||p - c||^2 has gradient p - c; 300 steps bring p close to c
    c = to_dev(np.linspace(-1.0, 2.0, 5))
    params = {"p": to_dev(np.zeros(5))}
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5}.get(name, 0.05)
    opt = make_optimizer(name, params, lr=lr)
    for _ in range(300):
        opt.step({"p": params["p"] - c})
    assert float(np.abs(host(params["p"] - c)).max()) < 0.05


# -- PyTorch parity ----------------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("name", list(KW))
def test_matches_torch_optim_in_float64(xp, rng, name):
    torch = pytest.importorskip("torch")
    kw = KW[name]
    torch_opt = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=kw["lr"]),
        "momentum": lambda ps: torch.optim.SGD(ps, lr=kw["lr"], momentum=kw.get("momentum", 0)),
        "nesterov": lambda ps: torch.optim.SGD(
            ps, lr=kw["lr"], momentum=kw.get("momentum", 0), nesterov=True
        ),
        "rmsprop": lambda ps: torch.optim.RMSprop(
            ps, lr=kw["lr"], alpha=kw.get("alpha", 0), eps=kw.get("eps", 0)
        ),
        "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=kw["lr"], eps=kw.get("eps", 0)),
        "adam": lambda ps: torch.optim.Adam(
            ps, lr=kw["lr"], betas=kw.get("betas", (0.9, 0.999)), eps=kw.get("eps", 0)
        ),
    }[name]
    params = make_params(rng)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in snapshot(params).items()}
    opt, topt = make_optimizer(name, params, **kw), torch_opt(list(tparams.values()))
    for _ in range(4):
        grads = make_grads(rng)
        opt.step(grads)
        for k, tp in tparams.items():
            tp.grad = torch.tensor(host(grads[k]))
        topt.step()
    for k in SHAPES:
        np.testing.assert_allclose(host(params[k]), tparams[k].detach().numpy(), rtol=1e-12)


# -- checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam", "rmsprop", "adagrad"])
def test_state_round_trip_gives_identical_later_updates(xp, rng, name):
    params_a = make_params(rng)
    params_b = {k: to_dev(v) for k, v in snapshot(params_a).items()}
    opt_a = make_optimizer(name, params_a, **KW[name])
    for _ in range(2):
        g = make_grads(rng)
        opt_a.step(g)
        for k in params_b:  # keep b's parameters equal to a's
            params_b[k][...] = params_a[k]
    saved = opt_a.state_dict()
    assert all(isinstance(v, (int, float, np.ndarray)) for v in saved.values())
    assert saved["step"] == 2
    # through an .npz file, as a checkpoint would store it (numbers come back as 0-d arrays)
    buf = io.BytesIO()
    np.savez(buf, **saved)
    buf.seek(0)
    loaded = dict(np.load(buf))
    opt_b = make_optimizer(name, params_b, lr=1.0)  # wrong lr: the state restores it
    opt_b.load_state_dict(loaded)
    assert opt_b.t == 2 and opt_b.lr == KW[name]["lr"]
    for _ in range(2):
        g = make_grads(rng)
        opt_a.step(g)
        opt_b.step(g)
    for k in SHAPES:
        np.testing.assert_array_equal(host(params_a[k]), host(params_b[k]))


def test_state_dict_is_a_snapshot_on_the_host(xp, rng):
    params = make_params(rng)
    opt = Adam(params)
    opt.step(make_grads(rng))
    saved = opt.state_dict()
    assert set(saved) == {"step", "lr", "beta1", "beta2", "eps", "m.W", "v.W", "m.b", "v.b"}
    before = saved["m.W"].copy()
    assert isinstance(saved["m.W"], np.ndarray)
    opt.step(make_grads(rng))
    np.testing.assert_array_equal(saved["m.W"], before)


def test_load_state_dict_rejects_bad_state_and_changes_nothing(xp, rng):
    params = make_params(rng)
    opt = Momentum(params, lr=0.1)
    opt.step(make_grads(rng))
    good = opt.state_dict()
    velocity = host(opt.state["W"]["velocity"]).copy()

    bad = dict(good)
    del bad["velocity.W"]
    with pytest.raises(ValueError, match=r"missing keys \['velocity.W'\]"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"unexpected keys \['m.W'\]"):
        opt.load_state_dict({**good, "m.W": good["velocity.W"]})
    shape_msg = r"state\['velocity.b'\] has shape \(4,\), expected \(3,\)"
    with pytest.raises(ValueError, match=shape_msg):
        opt.load_state_dict({**good, "lr": 0.5, "velocity.b": np.zeros(4)})
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict({**good, "step": -1})
    with pytest.raises(ValueError, match="momentum must be"):
        opt.load_state_dict({**good, "momentum": 1.5})
    with pytest.raises(TypeError, match="state must be a dict"):
        opt.load_state_dict([1, 2])
    assert opt.t == 1 and opt.lr == 0.1  # nothing changed by the failed loads
    np.testing.assert_array_equal(host(opt.state["W"]["velocity"]), velocity)


def test_sgd_state_has_no_slots(xp, rng):
    opt = SGD(make_params(rng), lr=0.3)
    assert opt.state_dict() == {"step": 0, "lr": 0.3}


# -- input errors -------------------------------------------------------------------------------
def test_bad_grads_are_refused_naming_the_key(xp, rng):
    params = make_params(rng)
    opt = Adam(params)
    start = snapshot(params)
    grads = make_grads(rng)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        opt.step({"W": grads["W"]})
    with pytest.raises(ValueError, match=r"keys \['c'\] that are not parameters"):
        opt.step({**grads, "c": grads["b"]})
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(2, 3\), expected \(3, 2\)"):
        opt.step({**grads, "W": grads["W"].T})
    with pytest.raises(TypeError, match="grads must be a dict"):
        opt.step([grads["W"], grads["b"]])
    if backend.backend_name() != "numpy":  # a host array handed to a device optimizer
        with pytest.raises(TypeError, match=r"grads\['b'\] is a numpy.ndarray"):
            opt.step({**grads, "b": np.zeros(3)})
    assert opt.t == 0
    for k in SHAPES:
        np.testing.assert_array_equal(host(params[k]), start[k])
    params["c"] = to_dev([1.0])
    with pytest.raises(ValueError, match="params changed keys after the optimizer was built"):
        opt.step({**grads, "c": to_dev([1.0])})


def test_bad_params_and_hyperparameters_are_refused(xp):
    with pytest.raises(ValueError, match="params is empty"):
        SGD({})
    with pytest.raises(TypeError, match="params must be a dict"):
        SGD([to_dev([1.0])])
    with pytest.raises(TypeError, match=r"params\['i'\] has dtype int64, expected a float"):
        SGD({"i": to_dev([1, 2], np.int64)})
    p = {"p": to_dev([1.0])}
    with pytest.raises(ValueError, match=r"beta2 must be a finite number in \[0.0, 1.0\)"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas must be a pair"):
        Adam(p, betas=0.9)
    with pytest.raises(ValueError, match="momentum"):
        Nesterov(p, momentum=-0.1)
    with pytest.raises(ValueError, match="eps"):
        RMSprop(p, eps=0.0)
    with pytest.raises(TypeError, match="lr must be a real number"):
        SGD(p, lr="0.1")


def test_make_optimizer_names_and_options(xp):
    p = {"p": to_dev([1.0])}
    assert [type(make_optimizer(n, p)) for n in OPTIMIZERS] == [
        SGD, Momentum, Nesterov, RMSprop, Adam, Adagrad
    ]
    assert make_optimizer("ADAM", p, 0.01).lr == 0.01
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'.*sgd, momentum, nesterov, "
                                         "rmsprop, adam, adagrad"):
        make_optimizer("adamw", p)
    with pytest.raises(TypeError, match="'adam' takes no option 'momentum'.*betas, eps"):
        make_optimizer("adam", p, momentum=0.9)


# -- clipping ----------------------------------------------------------------------------------
def test_clip_scales_to_the_threshold_and_returns_the_old_norm(xp):
    grads = {"a": to_dev([3.0, 0.0]), "b": to_dev([[0.0], [4.0]])}  # global norm 5
    total = clip_grad_norm(grads, max_norm=1.0)
    assert isinstance(total, float) and total == pytest.approx(5.0, rel=1e-15)
    assert global_norm(grads) <= 1.0
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    # every array scaled by the same factor 1/5 (up to eps): the direction is kept
    np.testing.assert_allclose(host(grads["a"]), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(host(grads["b"]), [[0.0], [0.8]], rtol=1e-5)


def test_clip_bounds_the_norm_of_random_gradients(xp, rng):
    for scale in (1e-3, 1.0, 1e3):
        grads = {k: v * scale for k, v in make_grads(rng).items()}
        before = snapshot(grads)
        total = clip_grad_norm(grads, max_norm=0.7)
        expected = math.sqrt(sum(float((v**2).sum()) for v in before.values()))
        assert total == pytest.approx(expected, rel=1e-12)
        assert global_norm(grads) <= 0.7
        if total <= 0.7:  # untouched below the threshold
            for k in grads:
                np.testing.assert_array_equal(host(grads[k]), before[k])


def test_clip_leaves_non_finite_gradients_alone_and_reports_them(xp):
    grads = {"a": to_dev([np.inf, 1.0])}
    assert clip_grad_norm(grads, 1.0) == math.inf
    np.testing.assert_array_equal(host(grads["a"]), [np.inf, 1.0])


def test_clip_refuses_bad_input(xp):
    with pytest.raises(ValueError, match="max_norm must be a finite number in \\(0.0"):
        clip_grad_norm({"a": to_dev([1.0])}, 0.0)
    with pytest.raises(ValueError, match="grads is empty"):
        clip_grad_norm({}, 1.0)
    if backend.backend_name() != "numpy":
        with pytest.raises(TypeError, match=r"grads\['a'\] is a numpy.ndarray"):
            clip_grad_norm({"a": np.ones(2)}, 1.0)


@pytest.mark.torch
def test_clip_matches_torch(xp, rng):
    torch = pytest.importorskip("torch")
    grads = {k: v * 10 for k, v in make_grads(rng).items()}
    tgrads = [torch.tensor(host(v)) for v in grads.values()]
    tparams = [torch.zeros_like(t, requires_grad=True) for t in tgrads]
    for p, g in zip(tparams, tgrads):
        p.grad = g
    t_total = torch.nn.utils.clip_grad_norm_(tparams, max_norm=2.0)
    total = clip_grad_norm(grads, 2.0)
    assert total == pytest.approx(float(t_total), rel=1e-12)
    for p, g in zip(tparams, grads.values()):
        np.testing.assert_allclose(host(g), p.grad.numpy(), rtol=1e-12)


# -- schedules ---------------------------------------------------------------------------------
def test_schedule_values():
    assert [Constant(0.1)(s) for s in (0, 5, 1000)] == [0.1, 0.1, 0.1]
    step = StepDecay(1.0, step_size=3, gamma=0.5)
    assert [step(s) for s in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    exp = Exponential(2.0, gamma=0.9)
    assert exp(0) == 2.0 and exp(2) == pytest.approx(1.62, rel=1e-15)
    warm = LinearWarmup(1.0, warmup_steps=4)
    assert [warm(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    combined = LinearWarmup(1.0, warmup_steps=2, then=StepDecay(1.0, step_size=2, gamma=0.1))
    assert [combined(s) for s in range(7)] == pytest.approx([0.5, 1, 1, 1, 0.1, 0.1, 0.01])


def test_make_schedule():
    assert make_schedule("constant", 0.3)(7) == 0.3
    assert make_schedule("step", 1.0, step_size=2)(2) == pytest.approx(0.1)
    assert make_schedule("Exponential", 1.0, gamma=0.5)(3) == 0.125
    warm = make_schedule("warmup", 1.0, warmup_steps=2, then="exponential", gamma=0.5)
    assert [warm(s) for s in range(5)] == [0.5, 1.0, 1.0, 0.5, 0.25]
    assert make_schedule("warmup", 1.0, warmup_steps=2)(10) == 1.0
    with pytest.raises(ValueError, match="unknown schedule 'cosine'.*constant, step, exponential"):
        make_schedule("cosine", 1.0)
    with pytest.raises(TypeError, match="'step' takes no option 'gama'.*step_size, gamma"):
        make_schedule("step", 1.0, step_size=2, gama=0.5)


def test_schedule_errors():
    with pytest.raises(ValueError, match="step must be >= 0"):
        Constant(0.1)(-1)
    with pytest.raises(TypeError, match="step must be an integer"):
        Constant(0.1)(1.5)
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        StepDecay(0.1, step_size=0)
    with pytest.raises(ValueError, match=r"gamma must be a finite number in \(0.0, 1.0\]"):
        Exponential(0.1, gamma=1.5)
    with pytest.raises(ValueError, match="base_lr"):
        Constant(-0.1)
    with pytest.raises(TypeError, match="then must be a schedule"):
        LinearWarmup(0.1, 3, then=0.5)


def test_schedule_drives_the_optimizer_lr(xp):
    params = {"p": to_dev([0.0])}
    opt, sched = SGD(params), LinearWarmup(1.0, warmup_steps=2)
    for step in range(3):
        opt.lr = sched(step)
        opt.step({"p": to_dev([-1.0])})  # p grows by lr each step: 0.5, 1, 1
    np.testing.assert_allclose(host(params["p"]), [2.5])
