"""m.eap reports its progress (each prompt pair scored, then evaluated), a
tqdm bar draws it, and an exception in the callback (Ctrl-C's
KeyboardInterrupt arrives the same way) cancels the call early."""

import time

import pytest


def test_eap_progress_counts_the_pairs(model):
    seen = []
    model.eap(batch=3, ig_steps=1, top_n=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(d, 6) for d in range(1, 7)]
    seen.clear()
    r = model.eap(batch=3, ig_steps=1, scores_only=True, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(d, 3) for d in range(1, 4)]
    assert r["curve"] == [] and r["clean"] is None and "circuit" not in r.keys()


def test_an_interrupt_cancels_eap(model):
    """The callback raises at the first pair: the call stops there (it does not
    finish the other pairs and raise at the end), so it takes a small part of
    the whole call's CPU time."""
    start = time.process_time()
    model.eap(batch=40, progress=False)
    whole = time.process_time() - start

    def interrupt(done, total):
        raise KeyboardInterrupt

    start = time.process_time()
    with pytest.raises(KeyboardInterrupt):
        model.eap(batch=40, progress=interrupt)
    assert time.process_time() - start < whole / 4
    assert model.eap(batch=2, top_n=4, progress=False)["n_pairs"] == 2  # the model is still usable


def test_a_tqdm_bar_shows_eap_progress(model, capsys):
    pytest.importorskip("tqdm")
    model.eap(batch=3, ig_steps=1, progress=True)
    bar = capsys.readouterr().err
    assert "eap" in bar and "/6" in bar, bar
