"""Benchmark: the whole model -- a training step and batch greedy decoding -- minis2s
against an equivalent PyTorch model.

The models: ``default`` is what ``minis2s train`` builds with :class:`TrainConfig`'s
defaults on the dates task (LSTM x1, hidden 64, embedding 32, additive attention;
vocabularies 51 -> 15; 77,903 parameters); ``article`` is the article's preset (LSTM x2,
hidden 512; 8,022,095 parameters). One batch of ``N = 64`` rows shaped like a bucketed
dates batch: sources of ``Ts - 3 .. Ts`` tokens (``Ts = 20``), targets of ``Tt = 11``
(``YYYY-MM-DD`` and ``</s>``).

The work timed on each side:

* ``train`` -- one training step: forward, loss, backward, Adam (lr 1e-3);
* ``decode`` -- greedy decoding of the batch, ``Tt`` steps at most (a row stops at
  ``</s>``), no gradients.

PyTorch's model is written here the way a PyTorch user would write it:
``nn.Embedding``, an ``nn.LSTM`` encoder over a packed batch, additive attention over
``(N, Ts, .)`` tensors (``tanh``, ``masked_fill``, ``softmax``, ``bmm``), one
``nn.LSTMCell`` per decoder layer reading ``[c_t ; y_{t-1}]``, ``nn.Linear`` and
``F.cross_entropy(ignore_index=PAD)``; ``torch.optim.Adam``. Before anything is timed,
:func:`check_equivalence` proves it is the same function: equal parameter counts, and
from the same weights (copied through :mod:`minis2s.cells.torch_io`) the same float64
loss and gradients to 1e-10 and the same greedy outputs.

Timing: :mod:`minis2s.bench_harness` (one spawned process per side, paired rounds,
settle pauses, median of the per-round ratios, peak memory of one step, the load of
other processes per round). Threads: by default each side uses its library's default
-- PyTorch its own, minis2s what ``minis2s train`` chooses for the model
(:func:`minis2s.threads.threads_for_model`), from the load of other programs read once
before the benchmark starts (read in each worker, the load average would count the
benchmark's own earlier rounds and take the cores away from the later models);
``--threads K`` sets both to K. The table names the threads minis2s ran.

Run it as ``python benchmarks/bench_model.py`` or ``minis2s bench --model default``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
from typing import Any

import numpy as np

from minis2s import bench_harness as harness
from minis2s.data.vocab import BOS_ID, EOS_ID, PAD_ID
from minis2s.threads import other_load, threads_for_model

MODELS = ("default", "article")
TASKS = ("train", "decode")
SRC_VOCAB, TGT_VOCAB = 51, 15        # the dates task's vocabularies
BATCH = {"N": 64, "Ts": 20, "Tt": 11}


def model_config(name: str) -> Any:
    """The :class:`~minis2s.model.ModelConfig` of ``default`` or ``article``."""
    from minis2s.model import ModelConfig
    from minis2s.train import TrainConfig
    from minis2s.train.config import PRESETS

    if name not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {name!r}")
    extra = {} if name == "default" else PRESETS["article"]
    settings = TrainConfig(**extra).model_settings()
    return ModelConfig(SRC_VOCAB, TGT_VOCAB, **settings)


def make_batch(seed: int, N: int = 64, Ts: int = 20, Tt: int = 11
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src (Ts, N), tgt_in (Tt, N), tgt_out (Tt, N))`` host ids: sources of ``Ts - 3
    .. Ts`` random tokens, targets of ``Tt - 1`` tokens and ``</s>``."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(Ts - 3, Ts + 1, N)
    lengths[0] = Ts
    src = np.zeros((Ts, N), dtype=np.int64)
    for i, length in enumerate(lengths):
        src[:length, i] = rng.integers(4, SRC_VOCAB, length)
    y = rng.integers(4, TGT_VOCAB, (Tt - 1, N))
    tgt_in = np.concatenate([np.full((1, N), BOS_ID), y])
    tgt_out = np.concatenate([y, np.full((1, N), EOS_ID)])
    return src, tgt_in, tgt_out


# ----------------------------------------------------------------------------------------
# The PyTorch model
# ----------------------------------------------------------------------------------------


def torch_model(config: Any) -> Any:
    """An ``nn.Module`` computing what ``Seq2Seq(config)`` computes (LSTM or GRU cells,
    unidirectional, learned embeddings, additive attention)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    if (config.cell not in ("lstm", "gru") or config.bidirectional or config.embedding is None
            or config.context != "attention" or config.attention != "additive"):
        raise ValueError("the PyTorch model covers unidirectional LSTM/GRU models with "
                         "embeddings and additive attention")
    lstm = config.cell == "lstm"
    E, H, L, V = config.embedding, config.hidden, config.layers, config.tgt_vocab

    class TorchSeq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_emb = nn.Embedding(config.src_vocab, E)
            self.tgt_emb = nn.Embedding(V, E)
            self.encoder = (nn.LSTM if lstm else nn.GRU)(E, H, L)
            self.W_q = nn.Linear(H, H, bias=False)
            self.W_k = nn.Linear(H, H, bias=False)
            self.v = nn.Parameter(torch.zeros(H))
            cell = nn.LSTMCell if lstm else nn.GRUCell
            self.cells = nn.ModuleList([cell(H + E if k == 0 else H, H) for k in range(L)])
            self.out = nn.Linear(H, V)

        def encode(self, src: Any, src_len: Any) -> tuple:
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len,
                                                       enforce_sorted=False)
            out, state = self.encoder(packed)
            values, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])
            values = values.transpose(0, 1)                          # (N, Ts, H)
            state = ([(h, c) for h, c in zip(*state)] if lstm else list(state))
            return values, self.W_k(values), (src == PAD_ID).t(), state

        def step(self, values: Any, keys: Any, pad: Any, y_emb: Any, state: list) -> tuple:
            top = state[-1][0] if lstm else state[-1]
            z = torch.tanh(keys + self.W_q(top)[:, None])             # (N, Ts, A)
            a = torch.softmax((z @ self.v).masked_fill(pad, float("-inf")), dim=1)
            x = torch.cat([torch.bmm(a[:, None], values)[:, 0], y_emb], dim=1)
            new = []
            for k, cell in enumerate(self.cells):
                s = cell(x, state[k])
                new.append(s)
                x = s[0] if lstm else s
            return x, new

        def loss(self, src: Any, src_len: Any, tgt_in: Any, tgt_out: Any) -> Any:
            values, keys, pad, state = self.encode(src, src_len)
            emb = self.tgt_emb(tgt_in)
            outs = []
            for t in range(tgt_in.shape[0]):
                h, state = self.step(values, keys, pad, emb[t], state)
                outs.append(h)
            logits = self.out(torch.stack(outs))
            return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1),
                                   ignore_index=PAD_ID)

        @torch.no_grad()
        def greedy(self, src: Any, src_len: Any, max_len: int) -> tuple:
            values, keys, pad, state = self.encode(src, src_len)
            n = src.shape[1]
            y = torch.full((n,), BOS_ID, dtype=torch.long)
            done = torch.zeros(n, dtype=torch.bool)
            log_prob = torch.zeros(n, dtype=values.dtype)
            tokens = []
            for _ in range(max_len):
                h, state = self.step(values, keys, pad, self.tgt_emb(y), state)
                logp = torch.log_softmax(self.out(h), dim=1)
                y = logp.argmax(dim=1)
                log_prob += logp.gather(1, y[:, None])[:, 0].masked_fill(done, 0.0)
                tokens.append(y.masked_fill(done, -1))     # -1: the row had ended
                done |= y == EOS_ID
                if bool(done.all()):
                    break
            return torch.stack(tokens), log_prob

    return TorchSeq2Seq()


#: minis2s's name -> the PyTorch model's, for the parameters outside the two stacks
PLAIN_NAMES = {"src_emb": "src_emb.weight", "tgt_emb": "tgt_emb.weight",
               "attn.W_q": "W_q.weight", "attn.W_k": "W_k.weight", "attn.v": "v",
               "out.W": "out.weight", "out.b": "out.bias"}


def _stacks(module: Any, config: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(prefix, StackConfig, {nn.LSTM state_dict name: parameter})`` for the encoder and
    the decoder (whose ``LSTMCell`` of layer ``k`` holds ``weight_ih_l{k}`` ...)."""
    decoder = {f"{stem}_l{k}": p for k, cell in enumerate(module.cells)
               for stem, p in cell.named_parameters()}
    return [("enc.", config.encoder_stack(), dict(module.encoder.named_parameters())),
            ("dec.", config.decoder_stack(), decoder)]


def load_torch_weights(module: Any, config: Any, params: dict[str, np.ndarray]) -> None:
    """Copy minis2s's host ``params`` into the PyTorch model (the stacks through
    :func:`minis2s.cells.torch_io.to_torch_state_dict`)."""
    import torch

    from minis2s.cells.torch_io import to_torch_state_dict

    own = dict(module.named_parameters())
    with torch.no_grad():
        for ours, theirs in PLAIN_NAMES.items():
            own[theirs].copy_(torch.from_numpy(np.asarray(params[ours])))
        for prefix, stack, named in _stacks(module, config):
            for name, value in to_torch_state_dict(params, stack, prefix).items():
                named[name].copy_(torch.from_numpy(value))


def torch_grads(module: Any, config: Any) -> dict[str, np.ndarray]:
    """The PyTorch model's gradients under minis2s's names."""
    from minis2s.cells.torch_io import from_torch_state_dict

    own = dict(module.named_parameters())
    grads = {ours: own[theirs].grad.numpy() for ours, theirs in PLAIN_NAMES.items()}
    for prefix, stack, named in _stacks(module, config):
        grads.update(from_torch_state_dict({k: p.grad for k, p in named.items()}, stack,
                                           prefix))
    return grads


# ----------------------------------------------------------------------------------------
# Equivalence, before anything is timed
# ----------------------------------------------------------------------------------------


def check_equivalence(name: str, seed: int = 0, tol: float = 1e-10) -> dict[str, Any]:
    """Both models in float64 from the same weights: equal parameter counts, loss and every
    gradient to ``tol`` (relative to the gradient's largest entry), and the same greedy
    tokens and log-probabilities. Raises ``AssertionError`` naming what differs; returns
    ``{"params": count, "loss": loss, "worst_grad": (name, error)}``."""
    import torch

    from minis2s import backend
    from minis2s.decode import greedy_decode
    from minis2s.model import Seq2Seq

    backend.set_backend("numpy")
    config = model_config(name)
    model = Seq2Seq(config, np.random.default_rng(seed), dtype=np.float64)
    module = torch_model(config).double()
    count = sum(int(np.prod(v.shape)) for v in model.params.values())
    theirs = sum(p.numel() for p in module.parameters())
    if count != theirs:
        raise AssertionError(f"{name}: {count} parameters in minis2s, {theirs} in PyTorch")
    load_torch_weights(module, config, model.host_params())
    src, tgt_in, tgt_out = make_batch(seed, **BATCH)
    loss, grads, _ = model.loss_and_grads(src, tgt_in, tgt_out, train=False)
    t_src, t_len = torch.from_numpy(src), torch.from_numpy((src != PAD_ID).sum(axis=0))
    t_loss = module.loss(t_src, t_len, torch.from_numpy(tgt_in), torch.from_numpy(tgt_out))
    t_loss.backward()
    loss = backend.to_float(loss)
    if abs(loss - t_loss.item()) > tol * abs(loss):
        raise AssertionError(f"{name}: loss {loss!r} in minis2s, {t_loss.item()!r} in PyTorch")
    theirs = torch_grads(module, config)
    if set(theirs) != set(grads):
        raise AssertionError(f"{name}: gradients of {sorted(set(grads) ^ set(theirs))} on "
                             "one side only")
    worst = ("", 0.0)
    for ours, t in theirs.items():
        g = np.asarray(grads[ours])
        err = float(np.max(np.abs(g - t)) / max(np.max(np.abs(t)), 1e-300))
        worst = max(worst, (ours, err), key=lambda w: w[1])
        if err > tol:
            raise AssertionError(f"{name}: gradient of {ours} differs by {err:.1e} (relative)")
    hyps = greedy_decode(model, src, max_len=BATCH["Tt"])
    tokens, log_prob = module.greedy(t_src, t_len, BATCH["Tt"])
    for i, h in enumerate(hyps):
        row = [int(v) for v in tokens[:, i] if int(v) not in (-1, EOS_ID)]
        if row != h.tokens or abs(h.log_prob - log_prob[i].item()) > tol * abs(h.log_prob):
            raise AssertionError(f"{name}: greedy output of row {i} differs: {h.tokens} "
                                 f"({h.log_prob!r}) in minis2s, {row} ({log_prob[i].item()!r})")
    return {"params": count, "loss": loss, "worst_grad": worst}


# ----------------------------------------------------------------------------------------
# The sides (run inside the worker processes)
# ----------------------------------------------------------------------------------------


def setup_minis2s(task: str, name: str, seed: int, load: float | None) -> Any:
    """minis2s's step: a training step with Adam, or greedy decoding of the batch. With a
    ``load`` (other programs' cores, read before the benchmark) the BLAS threads are what
    ``minis2s train`` picks for the model at that load; ``None``: as the worker was set."""
    from minis2s import backend
    from minis2s.decode import greedy_decode
    from minis2s.model import Seq2Seq
    from minis2s.optim import make_optimizer

    backend.set_backend("numpy")
    config = model_config(name)
    if load is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=threads_for_model(config, load=load),
                                    user_api="blas")
    model = Seq2Seq(config, np.random.default_rng(seed))
    src, tgt_in, tgt_out = make_batch(seed, **BATCH)
    if task == "decode":
        def step() -> None:
            greedy_decode(model, src, max_len=BATCH["Tt"])
    else:
        optimizer = make_optimizer("adam", model.params, lr=1e-3)

        def step() -> None:
            _, grads, _ = model.loss_and_grads(src, tgt_in, tgt_out)
            optimizer.step(grads)
    step.limiter = limiter if load is not None else None   # keep the thread limit alive
    return step


def setup_torch(task: str, name: str, seed: int) -> Any:
    """PyTorch's step, from the same weights as minis2s's."""
    import torch

    from minis2s.model import Seq2Seq

    config = model_config(name)
    module = torch_model(config)
    load_torch_weights(module, config,
                       Seq2Seq(config, np.random.default_rng(seed)).host_params())
    src, tgt_in, tgt_out = (torch.from_numpy(a) for a in make_batch(seed, **BATCH))
    src_len = (src != PAD_ID).sum(dim=0)
    if task == "decode":
        def step() -> None:
            module.greedy(src, src_len, BATCH["Tt"])
    else:
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            module.loss(src, src_len, tgt_in, tgt_out).backward()
            optimizer.step()
    return step


# ----------------------------------------------------------------------------------------
# The run and its table
# ----------------------------------------------------------------------------------------


def run(models: list[str], tasks: list[str], rounds: int = 7, per_round: int = 3,
        warmup: int = 3, settle: float = 0.3, use_torch: bool = True, seed: int = 0,
        threads: int | None = None, clock: str = "wall", out: Any = None) -> list[dict]:
    """Check equivalence, then time each (model, task); print the table, return the rows."""
    out = sys.stdout if out is None else out
    ctx = mp.get_context("spawn")
    rows = []
    load = other_load() if threads is None else None   # before the benchmark adds its own
    for name in models:
        if use_torch:
            eq = check_equivalence(name, seed)
            print(f"{name}: equivalent -- {eq['params']:,} parameters each, float64 loss "
                  f"{eq['loss']:.12f} on both sides, gradients equal to "
                  f"{eq['worst_grad'][1]:.1e} (worst: {eq['worst_grad'][0]}), same greedy "
                  "outputs", file=out, flush=True)
        for task in tasks:
            sides = [harness.Side(ctx, "minis2s", "minis2s.bench_model:setup_minis2s",
                                  (task, name, seed, load), warmup, threads, clock)]
            if use_torch:
                sides.append(harness.Side(ctx, "torch", "minis2s.bench_model:setup_torch",
                                          (task, name, seed), warmup, threads, clock))
            try:
                times, loads = harness.paired_rounds(sides, rounds, per_round, settle)
            finally:
                for s in sides:
                    s.close()
            row = {"model": name, "task": task, "loads": loads,
                   "threads": (threads if threads is not None
                               else threads_for_model(model_config(name), load=load)),
                   "ms": {s: 1e3 * statistics.median(v) for s, v in times.items()},
                   "peak_mb": {s.name: s.peak / 2**20 for s in sides}}
            if use_torch:
                row["ratio"] = harness.median_ratio(times["minis2s"], times["torch"])
                row["ratios"] = [m / t for m, t in zip(times["minis2s"], times["torch"])]
            rows.append(row)
    print(format_table(rows, rounds, per_round, settle, use_torch, threads, clock), file=out)
    return rows


def format_table(rows: list[dict], rounds: int, per_round: int, settle: float,
                 use_torch: bool, threads: int | None, clock: str) -> str:
    head = ["model", "work", "minis2s threads", "minis2s ms", "torch ms", "minis2s/torch",
            "ratio range", "peak MB minis2s", "peak MB torch", "other load (cores)"]
    lines = []
    for r in rows:
        ms, peak = r["ms"], r["peak_mb"]
        lines.append([
            r["model"], r["task"], str(r["threads"]), f"{ms['minis2s']:.1f}",
            f"{ms['torch']:.1f}" if use_torch else "-",
            f"{r['ratio']:.2f}x" if use_torch else "-",
            f"{min(r['ratios']):.2f}-{max(r['ratios']):.2f}" if use_torch else "-",
            f"{peak['minis2s']:.1f}", f"{peak['torch']:.1f}" if use_torch else "-",
            " ".join(f"{v:.1f}" for v in r["loads"]),
        ])
    notes = [
        f"batch N={BATCH['N']}, source {BATCH['Ts'] - 3}..{BATCH['Ts']} tokens, target "
        f"{BATCH['Tt']}; float32, CPU; threads: "
        + ("minis2s as `minis2s train` picks them (the load of other programs read "
           "before the benchmark), PyTorch its default." if threads is None
           else f"{threads} per side ({', '.join(harness.THREAD_VARS)}={threads})."),
        "train = forward, loss, backward, Adam; decode = greedy decoding of the batch "
        f"({BATCH['Tt']} steps at most).",
        f"Paired rounds: {rounds} rounds, best of {per_round} steps per side per round; "
        "times and ratios are medians over rounds; one spawned process per side, "
        f"{settle:g} s apart.",
        "Peak MB = growth of ru_maxrss during the first step in a fresh worker; other "
        "load = cores busy with other processes during each round.",
        "Clock: " + ("wall time." if clock == "wall" else "CPU time of each worker."),
    ]
    return "\n".join(harness.format_rows(head, lines) + [""] + notes)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minis2s bench",
        description="Time a whole-model training step and greedy decoding: minis2s vs an "
        "equivalent PyTorch model (checked first).")
    p.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS),
                   help="the models (default: both)")
    p.add_argument("--work", nargs="+", choices=TASKS, default=list(TASKS),
                   help="what to time (default: train and decode)")
    p.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    p.add_argument("--per-round", type=int, default=3,
                   help="timed steps per side per round, best kept (default 3)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per side (default 3)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds between sides (default 0.3)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per side (default: each library's default; for minis2s "
                   "what `minis2s train` picks for the model)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time (default), or each worker's CPU time (with --threads 1)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_torch = harness.check_command(args, ("rounds", "per_round", "threads"), "minis2s")
    if use_torch is None:
        return 2
    run(args.model, args.work, rounds=args.rounds, per_round=args.per_round,
        warmup=args.warmup, settle=args.settle, use_torch=use_torch, seed=args.seed,
        threads=args.threads, clock=args.clock)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
