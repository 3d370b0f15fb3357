"""ActivationCache: run_with_cache's activations, by TransformerLens hook name."""

from collections.abc import Mapping

__all__ = ["ActivationCache"]


class ActivationCache(Mapping):
    """A read-only mapping {hook name: numpy array}. The arrays are views of
    the buffers the C forward pass wrote (no copy): each keeps the pass's
    result alive through its base, after the cache and the model are gone.
    ``cache["pattern", 0]`` is short for ``cache["blocks.0.attn.hook_pattern"]``
    as in TransformerLens."""

    _SHORT = {
        "embed": "hook_embed", "pos_embed": "hook_pos_embed",
        "resid_pre": "hook_resid_pre", "resid_mid": "hook_resid_mid", "resid_post": "hook_resid_post",
        "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out",
        "q": "attn.hook_q", "k": "attn.hook_k", "v": "attn.hook_v", "z": "attn.hook_z",
        "rot_q": "attn.hook_rot_q", "rot_k": "attn.hook_rot_k",
        "attn_scores": "attn.hook_attn_scores", "pattern": "attn.hook_pattern",
        "pre": "mlp.hook_pre", "pre_linear": "mlp.hook_pre_linear", "post": "mlp.hook_post",
        "normalized": "ln_final.hook_normalized",
    }

    def __init__(self, arrays, model):
        self._arrays = arrays
        self.model = model

    def _name(self, key):
        if isinstance(key, tuple):
            short, layer = key
            full = self._SHORT.get(short, short)
            return full if layer is None else f"blocks.{layer}.{full}"
        return key

    def __getitem__(self, key):
        return self._arrays[self._name(key)]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __repr__(self):
        return f"ActivationCache with keys {list(self._arrays)}"
