"""Pretrained word vectors in training (issue 14, item 5): ``--vectors`` seeds the source
embedding at step 0, ``--freeze-embedding`` keeps those rows exactly, a malformed or
mismatched file is refused naming its line, and a resumed run does not read it again."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend, checkpoint, cli
from minis2s.data import SPECIALS
from minis2s.train import (
    FrozenRows,
    InputError,
    TrainConfig,
    initial_model,
    prepare_data,
    rundir,
    train,
)

WORDS = "the a cat dog sat ran big small red blue".split()
KNOWN = WORDS[:7]          # the words the vector file has ("red", "blue", "small" it lacks)
DIM = 6


def write_data(tmp_path):
    """A word-level TSV (source words reversed) and a word2vec file for 7 of its 10 words
    (plus one word the data never uses)."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(80):
        s = list(rng.choice(WORDS, size=rng.integers(2, 5)))
        lines.append(" ".join(s) + "\t" + " ".join(reversed(s)))
    tsv = tmp_path / "words.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vectors = {w: rng.standard_normal(DIM).round(4) for w in [*KNOWN, "zebra"]}
    vec = tmp_path / "vec.txt"
    vec.write_text(f"{len(vectors)} {DIM}\n" + "".join(
        f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()), encoding="utf-8")
    return tsv, vec, {w: v.astype(np.float32) for w, v in vectors.items()}


def config_for(tmp_path, tsv, vec, **changes) -> TrainConfig:
    settings = dict(data=str(tsv), tokens="word", vectors=str(vec), embedding=DIM,
                    cell="gru", hidden=8, batch_size=16, epochs=2, lr=0.05, patience=None,
                    progress=False, plots=False, examples=0, out=str(tmp_path / "run"))
    return TrainConfig(**{**settings, **changes})


@pytest.fixture
def files(tmp_path):
    return write_data(tmp_path)


def src_emb(params):
    return backend.to_host(params["src_emb"])


# -- step 0: the rows are the file's vectors ------------------------------------------------
def test_the_embedding_rows_equal_the_files_vectors_at_step_0(tmp_path, files):
    tsv, vec, vectors = files
    config = config_for(tmp_path, tsv, vec)
    data = prepare_data(config)
    start = initial_model(config, data)
    W = src_emb(start.model.params)
    vocab = data.src_vocab
    for word in KNOWN:
        np.testing.assert_array_equal(W[vocab.tokens.index(word)], vectors[word])
    for word in ("red", "blue", "small"):  # not in the file: a random row, not a copy
        row = W[vocab.tokens.index(word)]
        assert np.all(row != 0) and not any(np.array_equal(row, v) for v in vectors.values())
    np.testing.assert_array_equal(W[SPECIALS.index("<pad>")], 0)
    assert "7 of 10 source words have a vector" in start.note and "kept fixed" not in start.note
    # the vectors change the source embedding only: every other weight is the seed's
    plain = initial_model(config.replace(vectors=None), data).model.params
    assert set(plain) == set(start.model.params)
    for name in plain:
        if name != "src_emb":
            np.testing.assert_array_equal(backend.to_host(plain[name]),
                                          backend.to_host(start.model.params[name]))


def test_vectors_vocabulary_gives_a_word_only_the_file_has_its_own_row(tmp_path, files):
    """Without it, "zebra" (in the file, in no training source) is <unk>; with it, it
    has a row, seeded with its vector and kept fixed under freeze_embedding."""
    tsv, vec, vectors = files
    plain = prepare_data(config_for(tmp_path, tsv, vec))
    assert "zebra" not in plain.src_vocab.tokens
    assert plain.src_vocab.encode(["zebra"]) == plain.src_vocab.encode(["<unk>"])
    config = config_for(tmp_path, tsv, vec, vectors_vocabulary=8, freeze_embedding=True)
    data = prepare_data(config)
    assert set(data.src_vocab.tokens) == set(plain.src_vocab.tokens) | {"zebra"}
    start = initial_model(config, data)
    zebra = data.src_vocab.tokens.index("zebra")
    np.testing.assert_array_equal(src_emb(start.model.params)[zebra], vectors["zebra"])
    assert zebra in start.frozen.rows["src_emb"]
    # the first N words only: the file lists "the" first, "zebra" last
    few = prepare_data(config_for(tmp_path, tsv, vec, vectors_vocabulary=2))
    assert "zebra" not in few.src_vocab.tokens


def test_train_starts_from_that_model(tmp_path, files, monkeypatch):
    """``train`` itself starts from the seeded embedding (the model seen before step 1)."""
    import minis2s.train.loop as loop

    tsv, vec, vectors = files
    seen = []

    def spy(*args, **kwargs):
        start = loop_initial_model(*args, **kwargs)
        seen.append(src_emb(start.model.params).copy())
        return start

    loop_initial_model = loop.initial_model
    monkeypatch.setattr(loop, "initial_model", spy)
    messages: list[str] = []
    result = train(config_for(tmp_path, tsv, vec, epochs=1), echo=messages.append)
    assert result.status == "completed" and len(seen) == 1
    vocab = prepare_data(config_for(tmp_path, tsv, vec)).src_vocab
    for word in KNOWN:
        np.testing.assert_array_equal(seen[0][vocab.tokens.index(word)], vectors[word])
    assert any("7 of 10 source words have a vector in" in m for m in messages[:3]), messages


# -- frozen rows stay exactly the file's -----------------------------------------------------
@pytest.mark.parametrize("optimizer", ["adam", "momentum", "adagrad"])
def test_frozen_rows_are_unchanged_by_training(tmp_path, files, optimizer):
    tsv, vec, vectors = files
    config = config_for(tmp_path, tsv, vec, freeze_embedding=True, optimizer=optimizer)
    result = train(config, echo=None)
    assert result.steps >= 8
    vocab = prepare_data(config).src_vocab
    for name in (rundir.LAST, rundir.BEST):
        W = checkpoint.load_checkpoint(config.out_dir / name)["params"]["src_emb"]
        for word in KNOWN:
            np.testing.assert_array_equal(W[vocab.tokens.index(word)], vectors[word])
    # the rows the file did not give learn, and without freezing the others do too
    start = src_emb(initial_model(config, prepare_data(config)).model.params)
    W = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)["params"]["src_emb"]
    assert not np.array_equal(W[vocab.tokens.index("red")], start[vocab.tokens.index("red")])
    free = config.replace(freeze_embedding=False, out=str(tmp_path / "free"))
    train(free, echo=None)
    W = checkpoint.load_checkpoint(free.out_dir / rundir.LAST)["params"]["src_emb"]
    assert not np.array_equal(W[vocab.tokens.index("cat")], vectors["cat"])


def test_frozen_rows_on_the_device_backend(tmp_path, files):
    tsv, vec, vectors = files
    config = config_for(tmp_path, tsv, vec, freeze_embedding=True, backend="devicesim",
                        epochs=1)
    train(config, echo=None)
    vocab = prepare_data(config).src_vocab
    W = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)["params"]["src_emb"]
    np.testing.assert_array_equal(W[vocab.tokens.index("dog")], vectors["dog"])


def test_frozen_rows_zero_exactly_those_gradients():
    grads = {"src_emb": np.arange(12.0).reshape(4, 3) + 1, "out.b": np.ones(2)}
    before = {k: v.copy() for k, v in grads.items()}
    out = FrozenRows({"src_emb": np.array([1, 3])}).apply(grads)
    np.testing.assert_array_equal(out["src_emb"][[1, 3]], 0)
    np.testing.assert_array_equal(out["src_emb"][[0, 2]], before["src_emb"][[0, 2]])
    np.testing.assert_array_equal(out["out.b"], before["out.b"])
    for name in grads:  # the gradients handed in are not changed
        np.testing.assert_array_equal(grads[name], before[name])
    assert FrozenRows().apply(grads) is grads
    saved = FrozenRows({"src_emb": np.array([1, 3])}).to_dict()
    assert saved == {"src_emb": [1, 3]}
    np.testing.assert_array_equal(FrozenRows.from_dict(saved, {"src_emb": (4, 3)})
                                  .rows["src_emb"], [1, 3])
    with pytest.raises(ValueError, match="do not fit"):
        FrozenRows.from_dict({"src_emb": [4]}, {"src_emb": (4, 3)})


# -- resume: the file is not read again -------------------------------------------------------
def test_resume_does_not_read_the_vectors_again(tmp_path, files):
    tsv, vec, vectors = files
    straight = config_for(tmp_path / "a", tsv, vec, freeze_embedding=True, epochs=3)
    full = train(straight, echo=None)

    config = config_for(tmp_path / "b", tsv, vec, freeze_embedding=True, epochs=3)
    steps: list[int] = []

    def stop_at_5(event, info):
        if event == "step":
            steps.append(info["step"])
            if info["step"] == 5:
                raise KeyboardInterrupt

    assert train(config, callback=stop_at_5, echo=None).status == "interrupted"
    vec.unlink()  # moved away: a resumed run must not need it
    messages: list[str] = []
    resumed = train(config, resume=True, echo=messages.append)
    assert resumed.status == "completed" and resumed.steps == full.steps
    assert any("from the checkpoint" in m for m in messages), messages
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    vocab = prepare_data(config).src_vocab
    W = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)["params"]["src_emb"]
    for word in KNOWN:  # still frozen after the resume
        np.testing.assert_array_equal(W[vocab.tokens.index(word)], vectors[word])
    saved = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)
    assert saved["train_config"]["vectors"] == str(vec)


# -- refusals, naming the file and line --------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("2 6\nthe 1 2 3 4 5\ncat 1 2 3 4 5 6\n", r"v\.txt, line 2: expected a word and 6 numbers, "
                                              r"found 6 fields"),
    ("2 6\nthe 1 2 3 4 5 6\ncat 1 2 3 4 5 six\n", r"v\.txt, line 3: 'six' is not a number"),
    ("2 6\nthe 1 2 3 4 5 6\ncat 1 2 nan 4 5 6\n", r"v\.txt, line 3: the vector of 'cat' is not "
                                                  r"finite"),
    ("1 6\nthe 1 2 3 4 5 inf\n", r"v\.txt, line 2: the vector of 'the' is not finite"),
    ("1 6\nthe 1 2 3 4 5 1e39\n", r"v\.txt, line 2: the vector of 'the' is not finite"),
    ("3 6\nthe 1 2 3 4 5 6\ncat 1 2 3 4 5 6\n", r"v\.txt: the header announces 3 vectors, but "
                                                r"the file ends after 2 \(line 3\)"),
    ("1 6\nthe 1 2 3 4 5 6\ncat 1 2 3 4 5 6\n\n", r"v\.txt, line 3: the header announces 1 "
                                                  r"vector, but the file goes on"),
    ("2 5\nthe 1 2 3 4 5 6\ncat 1 2 3 4 5 6\n", r"v\.txt, line 1: the vectors have dimension 5, "
                                                r"but the embedding has size 6"),
    ("2\nthe 1 2 3 4 5 6\n", r"v\.txt, line 1: expected the header 'count dim'"),
    ("2 6\nthe 1 2 3 4 5 6\nthe 1 2 3 4 5 6\n", r"v\.txt, line 3: the word 'the' repeats"),
    ("2 6\nthe 1 2 3 4 5 6\n\ncat 1 2 3 4 5 6\n", r"v\.txt, line 3: empty line"),
])
def test_a_malformed_file_is_refused_naming_the_line(tmp_path, files, text, match):
    tsv, _, _ = files
    bad = tmp_path / "v.txt"
    bad.write_text(text, encoding="utf-8")
    config = config_for(tmp_path, tsv, bad)
    with pytest.raises(InputError, match=match):
        train(config, echo=None)
    assert not config.out_dir.exists()  # refused before anything was written


@pytest.mark.parametrize("changes, error, match", [
    (dict(embedding=None), ValueError, "one-hot"),
    (dict(vectors=None, freeze_embedding=True), ValueError, "give the vectors file"),
    (dict(vectors=5), TypeError, "vectors must be a file path"),
    (dict(freeze_embedding="yes"), TypeError, "freeze_embedding must be True or False"),
    (dict(vectors_vocabulary=-1), ValueError, "vectors_vocabulary must be an integer >= 0"),
    (dict(vectors_vocabulary=True), ValueError, "vectors_vocabulary must be an integer >= 0"),
    (dict(vectors=None, vectors_vocabulary=3), ValueError, "give the file"),
])
def test_settings_that_cannot_go_together(tmp_path, files, changes, error, match):
    tsv, vec, _ = files
    with pytest.raises(error, match=match):
        config_for(tmp_path, tsv, vec, **changes)


@pytest.mark.parametrize("changes, match", [
    (dict(tokens="char"), "need word tokens on the source side.*--tokens word"),
    (dict(data=None, task="reverse", train_size=40, task_options={"valid": 8}),
     "reverse's source is cut into characters"),
    (dict(vectors="VEC/none.txt"), "cannot read the vectors file .*none.txt: No such file"),
    (dict(vectors="VEC/none.txt", vectors_vocabulary=3),
     "cannot read the vectors file .*none.txt: No such file"),
    (dict(tokens="char", vectors_vocabulary=3), "need word tokens on the source side"),
])
def test_a_run_the_vectors_cannot_seed_is_refused(tmp_path, files, changes, match):
    tsv, vec, _ = files
    if "vectors" in changes:
        changes = {"vectors": changes["vectors"].replace("VEC", str(tmp_path))}
    with pytest.raises(InputError, match=match):
        train(config_for(tmp_path, tsv, vec, **changes), echo=None)


def test_a_file_without_any_source_word_is_refused(tmp_path, files):
    tsv, _, _ = files
    other = tmp_path / "other.txt"
    other.write_text(f"1 {DIM}\nzebra {' '.join(['0.5'] * DIM)}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"none of the 10 source words of words\.tsv"):
        train(config_for(tmp_path, tsv, other), echo=None)


# -- the command, end to end -------------------------------------------------------------------
def test_the_command_trains_with_the_vectors_and_resumes_without_them(tmp_path, files, capsys):
    tsv, vec, vectors = files
    out = tmp_path / "cli-run"
    common = ["--no-progress", "--no-plots", "--hidden", "8", "--batch-size", "16",
              "--examples", "0"]
    assert cli.main(["train", "--data", str(tsv), "--tokens", "word", "--vectors", str(vec),
                     "--freeze-embedding", "--epochs", "1", "--out", str(out), *common]) == 0
    printed = capsys.readouterr().out
    assert f"7 of 10 source words have a vector in {vec} (dimension {DIM})" in printed
    saved = checkpoint.load_checkpoint(out / rundir.LAST)
    assert saved["train_config"]["embedding"] == DIM  # taken from the file's header
    assert saved["train_config"]["vectors"] == str(vec)
    assert saved["train_config"]["freeze_embedding"] is True
    tokens = saved["src_vocab"]["tokens"]
    W = saved["params"]["src_emb"]
    for word in KNOWN:
        np.testing.assert_array_equal(W[tokens.index(word)], vectors[word])
    vec.unlink()
    assert cli.main(["train", "--resume", "--out", str(out), "--epochs", "2", *common]) == 0
    assert "from the checkpoint" in capsys.readouterr().out
    W2 = checkpoint.load_checkpoint(out / rundir.LAST)["params"]["src_emb"]
    frozen = saved["frozen_rows"]["src_emb"]
    assert len(frozen) == len(KNOWN)
    np.testing.assert_array_equal(W2[frozen], W[frozen])


@pytest.mark.parametrize("argv, fragments", [
    (["--embedding", "4"], ["vec.txt, line 1", "dimension 6", "--embedding 6"]),
    (["--one-hot"], ["one-hot"]),
    (["--tokens", "char"], ["--tokens word"]),
])
def test_the_command_refuses_in_one_line(tmp_path, files, capsys, argv, fragments):
    tsv, vec, _ = files
    argv = ["train", "--data", str(tsv), "--tokens", "word", "--vectors", str(vec), *argv,
            "--epochs", "1", "--no-progress", "--no-plots", "--out", str(tmp_path / "r")]
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "r").exists()
