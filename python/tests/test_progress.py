"""Progress reaches a Python callable; an exception it raises (Ctrl-C's
KeyboardInterrupt arrives the same way) stops the call and propagates; the
default bar is drawn only where someone sees it."""

import io
import sys

import pytest


def test_progress_callable_sees_the_scan(model):
    seen = []
    model.kcomp("L0H0", "L1H0", progress=lambda done, total: seen.append((done, total)))
    assert seen and all(0 <= d <= t for d, t in seen)
    assert any(d == t for d, t in seen)


def test_an_exception_in_progress_propagates(model):
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.comp_scores(progress=interrupt, baseline_samples=10)
    assert model.kcomp("L0H0", "L1H0").rows["top1"] > 0  # the model is still usable


def test_the_runtime_commands_report_progress(model):
    for call in (lambda p: model.heads(batch=2, progress=p), lambda p: model.repeat(batch=2, progress=p),
                 lambda p: model.ablate("L1H0", batch=2, progress=p)):
        seen = []
        call(lambda done, total: seen.append((done, total)))
        assert seen and seen[-1][0] == seen[-1][1]
    seen = []
    model.kcomp("L0H0", "L1H0", progress=lambda d, t: seen.append(d))
    model.heads(batch=2, progress=False)  # the runtime's callback was cleared after each call
    assert seen


def test_a_tqdm_bar_shows_the_progress(model, capsys):
    pytest.importorskip("tqdm")
    model.kcomp("L0H0", "L1H0", progress=True)
    bar = capsys.readouterr().err
    assert "kcomp" in bar and f"/{model.cfg.d_vocab}" in bar, bar
    model.kcomp("L0H0", "L1H0", progress=False)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_default_bar_is_drawn_on_a_terminal_only(model, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    model.kcomp("L0H0", "L1H0")  # stderr captured: not a terminal
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model.kcomp("L0H0", "L1H0")
    assert "kcomp" in terminal.getvalue()
