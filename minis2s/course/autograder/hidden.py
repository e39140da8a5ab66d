"""The hidden checks of the course kit: one function per line of ``assignments.toml``.

Read by ``runner.py`` (executed into a namespace, never imported by the package).
Each ``check(ctx)`` builds small float64 inputs from fixed seeds, calls the piece
(``ctx.piece``) and its forward partner (``ctx.forward``) of the *submission*, and
records:

* ``ctx.pair(name, forward, backward, arrays)``: the forward outputs and every
  gradient as golden values (compared with the reference's, computed at build time
  from the same seeds), plus a central-difference gradient check of each gradient;
* ``ctx.value(name, array)``: any other value compared with the reference's;
* ``ctx.expect(ok, message)``: a property (e.g. exact zeros at padding).

A check passes when nothing it recorded differs. NumPy is the only import.
"""

import numpy as np

Failure = globals().get("Failure", AssertionError)   # runner.py provides its own

MASK = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=bool)   # (T=4, N=3)


def _normal(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------------------------------
# A1: the shared recurrent step and BPTT
# ----------------------------------------------------------------------------------------


def recurrent_step(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    for k, (act, sizes) in enumerate((("tanh", (3, 4)), ("sigmoid", (3, 4, 2)),
                                      ("relu", (2, 4)), ("identity", (3, 4)))):
        rng = ctx.rng(10 + k)
        N, H = 3, 4
        arrays = {}
        for j, D in enumerate(sizes):
            arrays[f"x{j}"] = _normal(rng, N, D)
            arrays[f"W{j}"] = _normal(rng, H, D) * 0.7
        arrays["b"] = _normal(rng, H)
        K = len(sizes)

        def forward(a, K=K, act=act):
            return fwd([a[f"x{j}"] for j in range(K)], [a[f"W{j}"] for j in range(K)],
                       a["b"], act)

        def backward(dy, cache, K=K):
            dinputs, dweights, db = bwd(dy, cache)
            if len(dinputs) != K or len(dweights) != K:
                raise Failure(f"expected {K} input and {K} weight gradients, got "
                              f"{len(dinputs)} and {len(dweights)}")
            out = {f"x{j}": dinputs[j] for j in range(K)}
            out.update({f"W{j}": dweights[j] for j in range(K)})
            out["b"] = db
            return out

        ctx.pair(f"{act}_{K}inputs", forward, backward, arrays)


def recurrence(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    T, N, H = MASK.shape[0], MASK.shape[1], 4
    cases = (("plain", "tanh", None, True, True, False),
             ("masked", "tanh", MASK, True, True, False),
             ("final_only", "sigmoid", MASK, False, True, False),
             ("states_only", "tanh", None, True, False, False),
             ("one_input_per_step", "tanh", MASK, True, True, True))
    for k, (name, act, mask, use_states, use_last, shared) in enumerate(cases):
        rng = ctx.rng(20 + k)
        arrays = {"xw": _normal(rng, N, H) if shared else _normal(rng, T, N, H),
                  "W_rec": _normal(rng, H, H) * 0.6, "state0": _normal(rng, N, H)}

        def forward(a, act=act, mask=mask, use_states=use_states, use_last=use_last,
                    shared=shared):
            hs, cache = fwd(a["xw"], a["W_rec"], a["state0"], act, mask,
                            steps=T if shared else None)
            outs = (hs if use_states else None, hs[-1] if use_last else None)
            return outs, cache

        def backward(douts, cache, shared=shared):
            dhs, dlast = douts
            dxw, dstate0, dW_rec = bwd(dhs, dlast, cache)
            if shared:
                dxw = dxw.sum(axis=0)
            return {"xw": dxw, "state0": dstate0, "W_rec": dW_rec}

        ctx.pair(name, forward, backward, arrays)


# ----------------------------------------------------------------------------------------
# A2: the decoder and the loss
# ----------------------------------------------------------------------------------------


def decoder_step(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    N, Dh, S, E = 3, 4, 3, 2
    for k, with_y in enumerate((False, True)):
        rng = ctx.rng(30 + k)
        arrays = {"h": _normal(rng, N, Dh), "s_prev": _normal(rng, N, S),
                  "W_o": _normal(rng, S, Dh), "W_s": _normal(rng, S, S), "b": _normal(rng, S)}
        if with_y:
            arrays.update(y_prev=_normal(rng, N, E), W_y=_normal(rng, S, E))

        def forward(a):
            return fwd(a["h"], a["s_prev"], a["W_o"], a["W_s"], a["b"], "tanh",
                       a.get("y_prev"), a.get("W_y"))

        def backward(do, cache, with_y=with_y):
            dh, ds_prev, dy_prev, grads = bwd(do, cache)
            out = {"h": dh, "s_prev": ds_prev, **grads}
            if with_y:
                out["y_prev"] = dy_prev
            return out

        ctx.pair("with_y" if with_y else "article", forward, backward, arrays)


def decoder_sequence(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    T, N = MASK.shape
    Dh, S, E = 4, 3, 2
    for k, (name, final, with_y, g, mask) in enumerate(
            (("aligned_y_masked", False, True, "tanh", MASK),
             ("final", True, False, "sigmoid", None),
             ("final_y_masked", True, True, "tanh", MASK))):
        rng = ctx.rng(40 + k)
        arrays = {"h": _normal(rng, N, Dh) if final else _normal(rng, T, N, Dh),
                  "s0": _normal(rng, N, S), "W_o": _normal(rng, S, Dh),
                  "W_s": _normal(rng, S, S) * 0.7, "b": _normal(rng, S)}
        if with_y:
            arrays.update(y_prev=_normal(rng, T, N, E), W_y=_normal(rng, S, E))

        def forward(a, g=g, mask=mask):
            os_, cache = fwd(a["h"], a["s0"], a["W_o"], a["W_s"], a["b"], g=g,
                             y_prev=a.get("y_prev"), W_y=a.get("W_y"), mask=mask, steps=T)
            return (os_, os_[-1]), cache

        def backward(douts, cache, with_y=with_y):
            dos, ds_last = douts
            dh, ds0, dy_prev, grads = bwd(dos, cache, ds_last=ds_last)
            out = {"h": dh, "s0": ds0, **grads}
            if with_y:
                out["y_prev"] = dy_prev
            return out

        ctx.pair(name, forward, backward, arrays)


def softmax_ce(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    T, N, V = 4, 3, 5
    lengths = np.array([4, 2, 3])
    mask = np.arange(T)[:, None] < lengths[None, :]
    for k, (name, m, scale) in enumerate((("padded", mask, 1.0), ("all_real", None, 1.0),
                                          ("padded_dloss", mask, 0.5))):
        rng = ctx.rng(50 + k)
        targets = rng.integers(0, V, size=(T, N))
        if m is not None:
            targets = np.where(m, targets, 0)
        arrays = {"logits": _normal(rng, T, N, V) * 2.0}

        def forward(a, targets=targets, m=m, scale=scale):
            loss, cache = fwd(a["logits"], targets, m)
            return np.asarray(loss) * scale, cache

        def backward(dloss, cache, scale=scale):
            return {"logits": bwd(np.asarray(dloss * scale), cache)}

        ctx.pair(name, forward, backward, arrays)
        if m is not None:
            _, cache = fwd(arrays["logits"], targets, m)
            dz = np.asarray(bwd(1.0, cache))
            ctx.expect(bool(np.all(dz[~m] == 0.0)),
                       f"{name}: the gradient at padded positions must be exactly zero")


# ----------------------------------------------------------------------------------------
# A3: LSTM and GRU steps (and a sequence through the edition's step loop)
# ----------------------------------------------------------------------------------------


def _gated_params(rng, gates, D, H):
    return {"W_ih": _normal(rng, gates * H, D) * 0.5, "W_hh": _normal(rng, gates * H, H) * 0.5,
            "b_ih": _normal(rng, gates * H) * 0.5, "b_hh": _normal(rng, gates * H) * 0.5}


def _cell_checks(ctx, cell, names, gates, seed):
    fwd, bwd = ctx.forward, ctx.piece
    N, D, H = 3, 4, 3
    k_names = ("W_ih", "W_hh", "b_ih", "b_hh")
    for k, grad_on in enumerate(("all", "h_only")):
        rng = ctx.rng(seed + k)
        arrays = {"x": _normal(rng, N, D), **_gated_params(rng, gates, D, H)}
        for s in names:
            arrays[s + "0"] = _normal(rng, N, H) * 0.5

        def forward(a, grad_on=grad_on):
            new, cache = fwd(a["x"], tuple(a[s + "0"] for s in names),
                             {n: a[n] for n in k_names})
            new = tuple(new)
            return (new if grad_on == "all" else (new[0],) + (None,) * (len(new) - 1)), cache

        def backward(dnew, cache):
            dx, dstate, grads = bwd(tuple(dnew), cache)
            return {"x": dx, **{s + "0": d for s, d in zip(names, dstate)}, **grads}

        ctx.pair(f"step_{grad_on}", forward, backward, arrays)
    # a masked sequence through the edition's sequence path (a loop over the step)
    rng = ctx.rng(seed + 5)
    T = MASK.shape[0]
    arrays = {"x": _normal(rng, T, N, D), **_gated_params(rng, gates, D, H)}
    for s in names:
        arrays[s + "0"] = _normal(rng, N, H) * 0.5

    def seq_forward(a):
        hs, state_T, cache = cell.sequence_forward(
            a["x"], tuple(a[s + "0"] for s in names), {n: a[n] for n in k_names}, mask=MASK)
        return (hs,) + tuple(state_T), cache

    def seq_backward(douts, cache):
        dx, dstate0, grads = cell.sequence_backward(douts[0], tuple(douts[1:]), cache)
        return {"x": dx, **{s + "0": d for s, d in zip(names, dstate0)}, **grads}

    ctx.pair("sequence_masked", seq_forward, seq_backward, arrays)


def lstm_step(ctx):
    _cell_checks(ctx, ctx.mod("minis2s.cells.lstm"), ("h", "c"), 4, 60)


def gru_step(ctx):
    _cell_checks(ctx, ctx.mod("minis2s.cells.gru"), ("h",), 3, 70)


# ----------------------------------------------------------------------------------------
# A4: attention
# ----------------------------------------------------------------------------------------

ATT_MASK = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1], [1, 0, 0], [1, 0, 0]], dtype=float)


def _scorer_params(rng, scorer, Hq, Hv, A):
    """The scorer's parameters (see ``attention_param_shapes``)."""
    if scorer == "additive":
        return {"W_q": _normal(rng, A, Hq) * 0.6, "W_k": _normal(rng, A, Hv) * 0.6,
                "v": _normal(rng, A)}
    if scorer == "general":
        return {"W_a": _normal(rng, Hq, Hv) * 0.6}
    return {}


def _attention(ctx, scorer, seed):
    fwd, bwd = ctx.forward, ctx.piece
    Ts, N = ATT_MASK.shape
    Hq, Hv, A = 4, 4 if scorer == "dot" else 3, 5
    K = {"dot": Hv, "general": Hq, "additive": A}[scorer]
    for k, with_weights in enumerate((False, True)):
        rng = ctx.rng(seed + k)
        arrays = {"query": _normal(rng, N, Hq), "keys": _normal(rng, Ts, N, K),
                  "values": _normal(rng, Ts, N, Hv), **_scorer_params(rng, scorer, Hq, Hv, A)}
        names = tuple(_scorer_params(rng, scorer, Hq, Hv, A))

        def forward(a, with_weights=with_weights, names=names):
            params = {n: a[n] for n in names}
            (context, weights), cache = fwd(a["query"], a["keys"], a["values"], ATT_MASK,
                                            params, scorer)
            return ((context, weights) if with_weights else (context, None)), cache

        def backward(douts, cache):
            dquery, dkeys, dvalues, grads = bwd(douts, cache)
            return {"query": dquery, "keys": dkeys, "values": dvalues, **grads}

        ctx.pair("context_and_weights" if with_weights else "context", forward, backward,
                 arrays)


def attention_additive(ctx):
    _attention(ctx, "additive", 80)


def attention_dot(ctx):
    _attention(ctx, "dot", 82)


def attention_general(ctx):
    _attention(ctx, "general", 84)


def attention_keys(ctx):
    fwd, bwd = ctx.forward, ctx.piece
    Ts, N, Hq, Hv, A = 4, 3, 3, 3, 5
    for k, scorer in enumerate(("dot", "general", "additive")):
        rng = ctx.rng(90 + k)
        arrays = {"values": _normal(rng, Ts, N, Hv), **_scorer_params(rng, scorer, Hq, Hv, A)}
        names = tuple(n for n in arrays if n != "values")

        def forward(a, scorer=scorer, names=names):
            keys, cache = fwd(a["values"], {n: a[n] for n in names}, scorer)
            return keys.copy() if scorer == "dot" else keys, cache

        def backward(dkeys, cache):
            dvalues, grads = bwd(dkeys, cache)
            return {"values": dvalues, **grads}

        ctx.pair(scorer, forward, backward, arrays)


# ----------------------------------------------------------------------------------------
# A6: decoding, graded on outputs
# ----------------------------------------------------------------------------------------

SRC = np.array([[5, 6, 4, 7], [7, 8, 9, 5], [4, 5, 0, 8], [6, 0, 0, 4], [9, 0, 0, 0]])


def _model(ctx, context, cell, seed):
    model_mod = ctx.mod("minis2s.model")
    config = model_mod.ModelConfig(src_vocab=10, tgt_vocab=9, cell=cell, hidden=6,
                                   embedding=5, context=context, attention="additive")
    model = model_mod.Seq2Seq(config, np.random.default_rng(seed), dtype=np.float64)
    eos = 2
    model.params["out.b"][eos] += 1.5           # some hypotheses end early, some run long
    return model


def _record_hyps(ctx, name, hyps):
    L = max([len(h.tokens) for h in hyps] + [1])
    tokens = np.full((len(hyps), L), -1, dtype=np.int64)
    for i, h in enumerate(hyps):
        tokens[i, : len(h.tokens)] = h.tokens
    ctx.value(f"{name}/tokens", tokens)
    ctx.value(f"{name}/finished", np.array([bool(h.finished) for h in hyps]))
    ctx.value(f"{name}/log_prob", np.array([float(h.log_prob) for h in hyps]))
    ctx.value(f"{name}/score", np.array([float(h.score) for h in hyps]))
    att = [np.asarray(h.attention, dtype=np.float64).ravel() for h in hyps
           if h.attention is not None]
    if att:
        ctx.value(f"{name}/attention", np.concatenate(att))


def greedy(ctx):
    for k, (context, cell, max_len, alpha) in enumerate(
            (("attention", "gru", None, 0.6), ("final", "lstm", 4, 0.0),
             ("attention", "lstm", 3, 1.0))):
        model = _model(ctx, context, cell, 100 + k)
        hyps = ctx.piece(model, SRC, max_len=max_len, alpha=alpha)
        _record_hyps(ctx, f"{context}_{cell}_{max_len}_{alpha}", list(hyps))


def beam(ctx):
    cases = (("attention", "gru", 1, None, 0.6, 1), ("attention", "gru", 3, None, 0.0, 3),
             ("attention", "gru", 3, None, 0.6, 2), ("final", "lstm", 5, 4, 0.6, 5),
             ("attention", "lstm", 4, 6, 1.0, 1))
    for k, (context, cell, width, max_len, alpha, n_best) in enumerate(cases):
        model = _model(ctx, context, cell, 110 + k)
        results = ctx.piece(model, SRC, beam_size=width, max_len=max_len, alpha=alpha,
                            n_best=n_best)
        name = f"{context}_{cell}_k{width}_{max_len}_{alpha}_n{n_best}"
        ctx.value(f"{name}/sizes", np.array([len(r) for r in results]))
        _record_hyps(ctx, name, [h for r in results for h in r])


# ----------------------------------------------------------------------------------------
# A5: the whole model's backward (whole-model checks through the public Seq2Seq API)
# ----------------------------------------------------------------------------------------

# A padded batch: source lengths 4, 2, 3; targets of the same lengths (the aligned
# reading needs them) plus </s>; ids 4.. are words, 0 <pad>, 1 <s>, 2 </s>.
SRC_M = np.array([[4, 5, 6], [5, 7, 4], [6, 0, 7], [7, 0, 0]])
TGT_OUT_M = np.array([[5, 6, 4], [4, 4, 5], [6, 2, 6], [5, 0, 2], [2, 0, 0]])
TGT_IN_M = np.array([[1, 1, 1], [5, 6, 4], [4, 4, 5], [6, 0, 6], [5, 0, 0]])


def _model_case(ctx, name, seed, teacher_forcing=1.0, **settings):
    """Golden loss and gradients of a tiny float64 model, and a sampled gradient check
    of every parameter (the loss scaled by a seeded number, through ``Seq2Seq.backward``).
    ``teacher_forcing < 1`` takes the step-by-step path (the fed ids drawn from a fixed seed)."""
    model_mod = ctx.mod("minis2s.model")
    config = model_mod.ModelConfig(src_vocab=8, tgt_vocab=8, **settings)
    model = model_mod.Seq2Seq(config, np.random.default_rng(seed), dtype=np.float64)
    for key in model.params:             # sharper attention: its gradients well above rounding
        if key.startswith("attn."):
            model.params[key] *= 4.0

    def forward(a):
        rng = np.random.default_rng(seed) if teacher_forcing < 1.0 else None
        return model.forward(SRC_M, TGT_IN_M, TGT_OUT_M, teacher_forcing=teacher_forcing,
                             rng=rng)

    def backward(dloss, cache):
        grads, _ = model.backward(cache)
        return {k: g * float(dloss) for k, g in grads.items()}

    ctx.pair(name, forward, backward, model.params, seed=seed, tol=1e-5, max_entries=2)


def model_backward(ctx):
    _model_case(ctx, "lstm_additive_steps", 200, cell="lstm", hidden=4, embedding=3,
                context="attention", attention="additive")
    _model_case(ctx, "gru_final_2layers_sequence", 201, cell="gru", hidden=4, embedding=3,
                layers=2, context="final")


def model_decode_step(ctx):
    _model_case(ctx, "gru_dot", 202, cell="gru", hidden=4, embedding=3, context="attention",
                attention="dot")
    _model_case(ctx, "lstm_aligned_fed_back", 203, 0.5, cell="lstm", hidden=4, embedding=3,
                layers=2, context="aligned")


def model_decode_sequence(ctx):
    _model_case(ctx, "rnn_aligned", 204, cell="rnn", hidden=4, embedding=3, context="aligned")
    _model_case(ctx, "lstm_final_onehot", 205, cell="lstm", hidden=4, embedding=None,
                context="final")


def model_aligned_step(ctx):
    _model_case(ctx, "gru_aligned_fed_back", 210, 0.5, cell="gru", hidden=4, embedding=3,
                context="aligned")


def model_aligned_sequence(ctx):
    _model_case(ctx, "rnn_aligned", 211, cell="rnn", hidden=4, embedding=3, context="aligned")


def model_final_step(ctx):
    _model_case(ctx, "lstm_final_fed_back", 220, 0.5, cell="lstm", hidden=4, embedding=3,
                context="final")


def model_final_sequence(ctx):
    _model_case(ctx, "rnn_final", 221, cell="rnn", hidden=4, embedding=3, context="final")


def model_attention_step(ctx):
    for k, scorer in enumerate(("additive", "general")):
        _model_case(ctx, f"gru_{scorer}", 230 + k, cell="gru", hidden=4, embedding=3,
                    context="attention", attention=scorer)


def model_encode(ctx):
    _model_case(ctx, "gru_final", 240, cell="gru", hidden=4, embedding=3, context="final")
    _model_case(ctx, "lstm_bidirectional_additive", 241, cell="lstm", hidden=4, embedding=3,
                bidirectional=True, context="attention", attention="additive")


def model_bridge(ctx):
    _model_case(ctx, "lstm_bidirectional_final", 250, cell="lstm", hidden=4, embedding=3,
                bidirectional=True, context="final")
    _model_case(ctx, "gru_bidirectional_general", 251, cell="gru", hidden=4, embedding=3,
                bidirectional=True, context="attention", attention="general")
