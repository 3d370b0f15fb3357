"""attribute, info and validate beyond parity (test_parity.py): their errors
raise by error code, and progress reaches Python and can cancel them."""

import pytest

import circuitc

CLEAN, CORRUPT = [511, 10, 20, 30, 40, 50, 10], [511, 10, 20, 30, 40, 60, 70]


def test_attribute_errors(model):
    with pytest.raises(circuitc.ArgumentError, match="nope"):
        model.attribute("nope", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss")
    with pytest.raises(TypeError, match="needs a prompt pair"):
        model.attribute("resid_pre")
    with pytest.raises(circuitc.ArgumentError, match="the same number"):
        model.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT[:-1], metric="loss")
    with pytest.raises(TypeError, match="answer need a prompt pair"):
        model.attribute("mlp_out", answer="#20")
    with pytest.raises(TypeError, match="seq_len and seed belong to the repeated-token sweep"):
        model.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss", seed=2)
    with pytest.raises(ValueError, match="verify"):
        model.attribute("mlp_out", verify="some")
    with pytest.raises(ValueError, match="metric"):
        model.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="kl")


def test_validate_and_info_errors(model, tmp_path):
    with pytest.raises(circuitc.ArgumentError, match="L7H0"):
        model.validate("L7H0", "L1H0")
    with pytest.raises(circuitc.FileError, match="nope/tokens.json: unable to open .*--golden takes a golden/out/<model>"):
        model.validate("L0H0", "L1H0", golden=tmp_path / "nope")
    (tmp_path / "tokens.json").write_text('{"n": ')
    with pytest.raises(circuitc.ModelFormatError, match="tokens.json: .*--golden takes a golden/out/<model>"):
        model.validate("L0H0", "L1H0", golden=tmp_path)
    with pytest.raises(circuitc.FileError, match="No such file"):
        circuitc.info(tmp_path / "nope")


def test_validate_result(model):
    r = model.validate("L0H0", "L1H0", batch=2)
    assert r.prev == "L0H0" and r.ind == "L1H0" and r.failed == sum(not c["pass"] for c in r.checks)
    assert r.all_pass == (r.failed == 0) and {c["kind"] for c in r.checks} == {"prediction", "evidence"}


@pytest.mark.parametrize("call", [
    lambda m, p: m.validate("L0H0", "L1H0", batch=2, progress=p),
    lambda m, p: m.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss", verify=3,
                             progress=p),
], ids=["validate", "attribute-verify"])
def test_progress_and_cancellation(model, call):
    seen = []
    call(model, lambda done, total: seen.append((done, total)))
    assert seen and all(0 <= d <= t for d, t in seen)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call(model, interrupt)
