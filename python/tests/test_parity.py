"""Every analysis from Python gives the numbers `circuitc COMMAND --json` prints."""

import pytest

import circuitc
from conftest import FAMILY_MODELS, SOURCE_ROOT, printed

TOKENS = [511, 17, 301, 99, 4, 17, 301, 99]
TOKENS_ARG = ",".join(map(str, TOKENS))
# the fixture's prompt pair (tests/test_cli_patching.c): clean repeats token 10, corrupt does not
CLEAN, CORRUPT = [511, 10, 20, 30, 40, 50, 10], [511, 10, 20, 30, 40, 60, 70]
GOLDEN = SOURCE_ROOT / "golden" / "out" / "induction-3l4h"
PAIR_ARGS = ["--clean-tokens", ",".join(map(str, CLEAN)), "--corrupt-tokens", ",".join(map(str, CORRUPT))]

# (CLI arguments, the same call from Python)
CASES = {
    "kcomp": (["kcomp", "L0H0", "L1H0"], lambda m: m.kcomp("L0H0", "L1H0")),
    "kcomp-options": (["kcomp", "L0H0", "L1H0", "--k", "10", "--singular", "16", "--ranks", "--seed", "4"],
                      lambda m: m.kcomp((0, 0), (1, 0), k=10, singular=16, ranks="always", seed=4)),
    "kcomp-path": (["kcomp", "L0H0", "L1H0"], lambda m: circuitc.kcomp(m.cfg.model_path, "L0H0", "L1H0")),
    "kcomp-path-unprocessed": (["kcomp", "L0H1", "L2H0", "--no-processing"],
                               lambda m: circuitc.kcomp(m.cfg.model_path, "L0H1", "L2H0", process=False)),
    "qcomp": (["qcomp", "L0H1", "L2H0"], lambda m: m.qcomp("L0H1", "L2H0")),
    "vcomp": (["vcomp", "L0H1", "L2H0", "--baseline-samples", "50", "--seed", "3"],
              lambda m: m.vcomp("L0H1", "L2H0", baseline_samples=50, seed=3)),
    "ov": (["ov", "1.0", "--k", "3", "--brute-force"], lambda m: m.ov("1.0", k=3, method="brute")),
    "qk": (["qk", "L1H0"], lambda m: circuitc.qk(m, "L1H0")),
    "compile": (["compile", "kcomp", "--bind", "prev=L0H0", "--bind", "ind=L1H0", "--explain", "--order", "tl"],
                lambda m: m.compile("kcomp", prev="L0H0", ind=(1, 0), explain=True, order="tl")),
    "comp-scores": (["comp-scores"], lambda m: m.comp_scores()),
    "comp-scores-k": (["comp-scores", "--mode", "k", "--top", "5", "--baseline-samples", "20"],
                      lambda m: m.comp_scores(mode="k", top=5, baseline_samples=20)),
    "discover": (["discover", "--batch", "4"], lambda m: m.discover(batch=4)),
    "discover-weights": (["discover", "--no-runtime", "--top", "3"], lambda m: m.discover(runtime=False, top=3)),
    "repeat": (["repeat", "--seq-len", "20", "--batch", "4", "--seed", "3"],
               lambda m: m.repeat(seq_len=20, batch=4, seed=3)),
    "heads": (["heads", "--batch", "4", "--top", "5", "--exclude-bos"],
              lambda m: m.heads(batch=4, top=5, exclude_bos=True)),
    "pattern": (["pattern", "L1H0", "--seq-len", "20", "--seed", "2"],
                lambda m: m.pattern("L1H0", seq_len=20, seed=2)),
    "pattern-tokens": (["pattern", "L1H0", "--tokens", TOKENS_ARG], lambda m: m.pattern("L1H0", tokens=TOKENS)),
    "ablate": (["ablate", "L1H0", "L2H1", "--batch", "4", "--ablate", "zero"],
               lambda m: m.ablate("L1H0", "L2H1", batch=4, mode="zero")),
    "patch-mlp_out": (["patch", "mlp_out", "--seq-len", "10", "--seed", "1"], lambda m: m.patch_mlp_out(seq_len=10, seed=1)),
    "patch-pair": (["patch", "resid_pre", *PAIR_ARGS, "--answer", "#20", "--wrong", "#99"],
                   lambda m: m.patch("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, answer="#20", wrong="#99")),
    "patch-pair-heads": (["patch", "z", "--per-head", "--positions", "all", *PAIR_ARGS, "--metric", "loss", "--naive"],
                         lambda m: m.patch("z", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss",
                                           per_head=True, positions="all", naive=True)),
    "path-patch": (["path-patch", "L0H0", "L1H0", "--to", "k", *PAIR_ARGS, "--answer", "#20", "--wrong", "#99"],
                   lambda m: m.path_patch("L0H0", "L1H0", to="k", clean_tokens=CLEAN, corrupt_tokens=CORRUPT,
                                          answer="#20", wrong="#99")),
    "path-patch-all": (["path-patch", "all", "L2H1", "L2H0", *PAIR_ARGS, "--metric", "loss"],
                       lambda m: m.path_patch("all", (2, 1), "L2H0", clean_tokens=CLEAN, corrupt_tokens=CORRUPT,
                                              metric="loss")),
    "eap": (["eap", "--batch", "4", "--top-n", "8"], lambda m: m.eap(batch=4, top_n=8)),
    "eap-plain": (["eap", "--ig-steps", "0", "--greedy", "--top-n", "6", "--seq-len", "6", "--metric", "loss",
                   "--seed", "2"],
                  lambda m: m.eap(ig_steps=0, greedy=True, top_n=6, seq_len=6, metric="loss", seed=2)),
    "eap-kl": (["eap", "--ig-steps", "2", "--metric", "kl", "--batch", "3", "--seq-len", "5", "--top-n", "6"],
               lambda m: m.eap(ig_steps=2, metric="kl", batch=3, seq_len=5, top_n=6)),
    "attribute": (["attribute", "resid_pre", *PAIR_ARGS, "--answer", "#20", "--wrong", "#99", "--verify", "5"],
                  lambda m: m.attribute("resid_pre", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, answer="#20",
                                        wrong="#99", verify=5)),
    "attribute-heads-all": (["attribute", "z", "--per-head", *PAIR_ARGS, "--metric", "loss", "--verify", "all",
                             "--top", "4"],
                            lambda m: m.attribute("z", clean_tokens=CLEAN, corrupt_tokens=CORRUPT, metric="loss",
                                                  per_head=True, verify="all", top=4)),
    "attribute-positions-all": (["attribute", "attn_out", "--positions", "all", *PAIR_ARGS, "--metric", "loss"],
                                lambda m: circuitc.attribute(m, "attn_out", clean_tokens=CLEAN,
                                                             corrupt_tokens=CORRUPT, metric="loss", positions="all")),
    "attribute-mlp_out": (["attribute", "mlp_out", "--seq-len", "10", "--seed", "3", "--verify", "5"],
                          lambda m: m.attribute("mlp_out", seq_len=10, seed=3, verify=5)),
    "attribute-mlp_out-all": (["attribute", "mlp_out", "--seq-len", "6", "--verify", "all", "--top", "3"],
                              lambda m: m.attribute("mlp_out", seq_len=6, verify="all", top=3)),
    "atlas": (["atlas"], lambda m: m.atlas()),
    "atlas-options": (["atlas", "--circuit", "qcomp", "--min-acc", "0", "--top", "3"],
                      lambda m: m.atlas(circuit="qcomp", min_acc=0, top=3, threads=1)),
    "atlas-path-unprocessed": (["atlas", "--no-processing", "--min-acc", "0.2", "--top", "1000"],
                               lambda m: circuitc.atlas(m.cfg.model_path, process=False, min_acc=0.2, top=1000)),
    "validate": (["validate", "L0H0", "L1H0", "--batch", "4"], lambda m: m.validate("L0H0", "L1H0", batch=4)),
    "validate-golden": (["validate", "L0H0", "L1H0", "--golden", str(GOLDEN), "--ablate", "zero", "--seed", "2"],
                        lambda m: circuitc.validate(m, (0, 0), "L1H0", golden=GOLDEN, mode="zero", seed=2)),
    "dla": (["dla", "--tokens", TOKENS_ARG, "--answer", "#4", "--wrong", "#250"],
            lambda m: m.dla("#4", "#250", tokens=TOKENS)),
    "lens": (["lens", "--tokens", TOKENS_ARG, "--top", "3"], lambda m: m.lens(tokens=TOKENS, top=3)),
    "run": (["run", "--tokens", TOKENS_ARG], lambda m: m.next_tokens(tokens=TOKENS)),
}


@pytest.mark.parametrize("name", CASES)
def test_parity_with_cli(model, cli, name):
    args, call = CASES[name]
    result = call(model)
    assert printed(result.to_dict()) == printed(cli(*args))


@pytest.mark.parametrize("family", ["pythia-tiny", "llama-tiny", "gpt-neo-tiny"])
def test_parity_on_family_fixtures(cli, family):
    path = str(FAMILY_MODELS / family)
    m = circuitc.load(path)
    prompt = "Hello world, hello"
    if family == "gpt-neo-tiny":  # no tokenizer of its own
        assert printed(m.lens(tokens=[1, 2, 3, 2, 3]).to_dict()) == printed(cli("lens", "--model", path, "--tokens", "1,2,3,2,3"))
    else:
        assert printed(m.lens(prompt=prompt).to_dict()) == printed(cli("lens", "--model", path, "--prompt", prompt))
    assert printed(m.kcomp("L0H0", "L1H1").to_dict()) == printed(cli("kcomp", "L0H0", "L1H1", "--model", path))
    assert printed(circuitc.kcomp(path, "L0H0", "L1H1").to_dict()) == printed(m.kcomp("L0H0", "L1H1").to_dict())
    assert printed(circuitc.atlas(path, top=5).to_dict()) == printed(cli("atlas", "--model", path, "--top", "5"))


@pytest.mark.parametrize("checksum", [False, True])
def test_info_parity(model, cli, checksum):
    """info's model keys: from a Model and from a path (its header alone read)."""
    body = cli("info", "--model", model.cfg.model_path, *(["--checksum"] if checksum else []))
    assert body.pop("blas") is not None  # the CLI process's BLAS, not the package's
    for r in (model.info(checksum=checksum), circuitc.info(model.cfg.model_path, checksum=checksum)):
        assert r.to_dict() == body
    assert (body["sha256"] is not None) == checksum


def test_tokens_match_the_cli(cli):
    path = str(FAMILY_MODELS / "pythia-tiny")
    m = circuitc.load(path)
    text = "Hello world"
    body = cli("tokenize", "--model", path, text)
    assert m.to_tokens(text).tolist() == [body["prompts"][0]["ids"]]
    assert m.to_str_tokens(text) == body["prompts"][0]["tokens"]
    assert m.to_string(m.to_tokens(text, prepend_bos=False)[0]) == text
    batch = m.to_tokens(["Hello", "Hello world"])
    assert batch.shape == (2, len(body["prompts"][0]["ids"])) and batch.dtype.name == "int64"


def test_result_attributes_are_the_json_keys(model):
    r = model.kcomp("L0H0", "L1H0")
    body = r.to_dict()
    assert r.command == "kcomp" and r.rows == body["rows"] and r["composition"] == body["composition"]
    assert "top-1 rows" in repr(r)
    with pytest.raises(AttributeError):
        r.no_such_key
