"""Each kind of failure raises its circuitc.Error subclass, with the library's message."""

import numpy as np
import pytest

import circuitc

from conftest import SOURCE_ROOT


def test_missing_model_is_a_file_error(tmp_path):
    with pytest.raises(circuitc.FileError, match="No such file") as e:
        circuitc.load(tmp_path / "nope")  # a pathlib.Path as well as a str
    assert isinstance(e.value, OSError) and isinstance(e.value, circuitc.Error)


def test_bad_config_is_a_model_format_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_layer": "three"}')
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(circuitc.ModelFormatError, match="config.json"):
        circuitc.load(str(tmp_path))


def test_unknown_head_and_hook_are_argument_errors(model):
    with pytest.raises(circuitc.ArgumentError, match="L9H0"):
        model.kcomp("L9H0", "L1H0")
    with pytest.raises(circuitc.ArgumentError):
        model.run_with_cache([511, 1, 2], names_filter="blocks.0.hook_nope")
    with pytest.raises(circuitc.ArgumentError, match="d_vocab"):
        model([511, 1, 100000])
    with pytest.raises(circuitc.ArgumentError, match="not a token id"):
        model.to_string([600])
    with pytest.raises(circuitc.ArgumentError, match="n_ctx = 128"):
        model.lens(tokens=list(range(200)))
    with pytest.raises(circuitc.ArgumentError, match="#999"):
        model.dla("#999", tokens=[511, 1, 2])


def test_a_tokenizer_that_does_not_fit_is_a_tokenizer_error():
    gpt2 = SOURCE_ROOT / "third_party" / "gpt2-tokenizer"
    if not (gpt2 / "vocab.json").exists():
        pytest.skip("GPT-2's tokenizer is not fetched (scripts/fetch-gpt2-tokenizer)")
    with pytest.raises(circuitc.TokenizerError, match="vocab"):
        circuitc.load(tokenizer=gpt2).to_tokens("Hello")  # GPT-2's 50257 tokens, the fixture's 512


def test_the_fixture_reads_text_with_its_own_tokenizer(model):
    assert model.to_str_tokens("When Mary and John") == ["<|endoftext|>", "W", "hen", " Mary", " and", " John"]


def test_a_hook_that_keeps_its_view_is_refused(model):
    kept = []
    with pytest.raises(circuitc.ArgumentError, match="act.copy()"):
        model.run_with_hooks([511, 1, 2], fwd_hooks=[("blocks.0.hook_resid_pre", lambda a, h: kept.append(a))])


def test_a_hook_exception_propagates_unchanged(model):
    def boom(act, hook):
        raise KeyError("from the hook")

    with pytest.raises(KeyError, match="from the hook"):
        model.run_with_hooks(np.array([511, 1, 2]), fwd_hooks=[("blocks.1.attn.hook_z", boom)])


def test_code_table_classes():
    cases = {"arg": circuitc.ArgumentError, "value": circuitc.ArgumentError, "io": circuitc.FileError,
             "format": circuitc.ModelFormatError, "nomem": circuitc.OutOfMemoryError,
             "nonfinite": circuitc.NonFiniteError, "unsupported": circuitc.UnsupportedError,
             "cancelled": circuitc.CancelledError}
    for code, cls in cases.items():
        assert type(circuitc.error_for("a message", False, code)) is cls, code
    assert type(circuitc.error_for("merges.txt: no merges", False, "format")) is circuitc.TokenizerError
    assert type(circuitc.error_for("internal: a bug", False, "internal")) is circuitc.Error
    assert isinstance(circuitc.error_for("anything", True, "format"), circuitc.ArgumentError)
