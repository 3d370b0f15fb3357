"""Weights and activations are views of the C side's memory: no copy, read-only
where the model owns it, alive as long as an array needs it."""

import gc
import weakref

import numpy as np
import pytest

import circuitc

SHAPES = {"W_E": "Vd", "W_pos": "Cd", "W_Q": "LHdh", "W_K": "LHdh", "W_V": "LHdh", "W_O": "LHhd", "b_Q": "LHh",
          "b_O": "Ld", "W_in": "Ldm", "b_in": "Lm", "W_out": "Lmd", "b_out": "Ld", "W_U": "dV", "b_U": "V"}


def expected_shape(cfg, letters):
    sizes = dict(L=cfg.n_layers, H=cfg.n_heads, d=cfg.d_model, h=cfg.d_head, m=cfg.d_mlp, V=cfg.d_vocab, C=cfg.n_ctx)
    return tuple(sizes[c] for c in letters)


@pytest.mark.parametrize("name", SHAPES)
def test_weights_are_read_only_views_of_the_c_arrays(model, name):
    w = getattr(model, name)
    assert w.shape == expected_shape(model.cfg, SHAPES[name]) and w.dtype == np.float32
    assert w.base is model and not w.flags.owndata
    assert w.__array_interface__["data"][0] == model._weight_address(name) != 0
    with pytest.raises(ValueError):
        w[(0,) * w.ndim] = 1.0
    with pytest.raises(ValueError):
        w.flags.writeable = True


def test_folded_weights_are_none(model):
    assert model.ln1_w is None and model.lnf_b is None  # processed: folded away
    raw = circuitc.load(process=False)
    assert raw.ln1_w.shape == (raw.cfg.n_layers, raw.cfg.d_model)
    assert not np.array_equal(raw.W_Q, model.W_Q)  # fold_ln rewrote it


def test_weights_outlive_the_model():
    m = circuitc.load()
    alive = weakref.ref(m)
    w = m.W_Q
    copy = w.copy()
    del m
    gc.collect()
    assert alive() is not None  # held by the array's base
    np.testing.assert_array_equal(w, copy)
    del w
    gc.collect()
    assert alive() is None


def test_cache_arrays_are_views_of_one_result_and_outlive_it(model):
    tokens = np.array([[511, 5, 6, 7, 5, 6, 7]])
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: "pattern" in n or n == "hook_embed")
    owner = logits.base
    assert isinstance(owner, circuitc._circuitc.Buffers)
    assert all(a.base is owner and not a.flags.owndata and not a.flags.writeable for a in cache.values())
    pattern = cache["pattern", 1]
    assert pattern.shape == (1, model.cfg.n_heads, 7, 7)
    np.testing.assert_allclose(pattern.sum(-1), 1.0, rtol=1e-5)
    copy = pattern.copy()
    del cache, logits, owner
    gc.collect()
    np.testing.assert_array_equal(pattern, copy)


def test_cache_holds_every_hook_with_its_shape(model):
    tokens = np.array([[511, 5, 6, 7, 5, 6, 7], [511, 9, 8, 7, 9, 8, 7]])
    logits, cache = model.run_with_cache(tokens)
    c = model.cfg
    assert list(cache) == model.hook_names
    assert logits.shape == (2, 7, c.d_vocab)
    assert cache["blocks.2.attn.hook_q"].shape == (2, 7, c.n_heads, c.d_head)
    assert cache["blocks.0.mlp.hook_post"].shape == (2, 7, c.d_mlp)
    assert cache["blocks.1.hook_resid_pre"].shape == (2, 7, c.d_model)
    np.testing.assert_array_equal(cache["logits"], logits)
    # the embedding hook is W_E's rows
    np.testing.assert_array_equal(cache["hook_embed"][0], model.W_E[tokens[0]])


def test_hooks_edit_the_activation_in_place(model):
    tokens = np.array([511, 5, 6, 7, 5, 6, 7])
    clean = model(tokens)

    def zero(act, hook):
        assert hook.name == "blocks.2.hook_resid_post" and hook.layer() == 2
        act[:] = 0

    hooked = model.run_with_hooks(tokens, fwd_hooks=[("blocks.2.hook_resid_post", zero)])
    # ln_final of a zero residual is zero (LNPre): every logit is the unembedding bias
    np.testing.assert_array_equal(hooked[0], np.broadcast_to(model.b_U, hooked[0].shape))
    assert not np.array_equal(clean, hooked)
    same = model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_z"), lambda act, hook: act)])
    np.testing.assert_array_equal(clean, same)
    replaced = model.run_with_hooks(tokens, fwd_hooks=[("blocks.2.hook_resid_post", lambda a, h: np.zeros_like(a))])
    np.testing.assert_array_equal(replaced, hooked)


def test_hook_edits_reach_the_later_hooks(model):
    tokens = np.array([511, 5, 6, 7, 5, 6, 7])
    seen = {}
    hooks = [("blocks.0.attn.hook_pattern", lambda act, hook: act.__setitem__(..., 0.0)),
             ("blocks.0.hook_attn_out", lambda act, hook: seen.setdefault("attn_out", act.copy()))]
    model.run_with_hooks(tokens, fwd_hooks=hooks)
    # a zero pattern leaves only b_O in hook_attn_out
    np.testing.assert_allclose(seen["attn_out"][0], np.broadcast_to(model.b_O[0], seen["attn_out"][0].shape),
                               atol=1e-6)


def test_repeated_tokens_are_the_commands_input(model):
    tokens = model.repeated_tokens(seq_len=20, batch=3, seed=2)
    assert tokens.shape == (3, 41) and tokens.dtype == np.int64
    assert (tokens[:, 0] == model.cfg.bos_token_id).all()
    np.testing.assert_array_equal(tokens[:, 1:21], tokens[:, 21:])
    assert model.pattern("L1H0", seq_len=20, seed=2).tokens == tokens[0].tolist()
