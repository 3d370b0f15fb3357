"""Model: a loaded model with TransformerLens' names, and every analysis."""

import dataclasses
import os
import re

from ._lazy import numpy as np

from . import _circuitc
from ._args import head as _head, ids_text as _ids_text, threads as _threads
from ._atlas import Atlas
from ._attribute import Attribution
from ._cache import ActivationCache
from ._model_checks import ModelChecks
from ._pairs import PairAnalyses
from ._progress import progress_for
from ._results import CircuitResult, Result

__all__ = ["Config", "Model", "circuit", "load"]


@dataclasses.dataclass(frozen=True)
class Config:
    """The model's configuration under HookedTransformerConfig's names, plus
    the block shape circuitc reads (family, attn_types, processing)."""
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    eps: float
    bos_token_id: int
    family: str
    n_key_value_heads: int
    normalization_type: str
    positional_embedding_type: str
    rotary_dim: int
    rotary_base: float
    rotary_adjacent_pairs: bool
    use_attn_scale: bool
    parallel_attn_mlp: bool
    attn_only: bool
    gated_mlp: bool
    act_fn: str
    tied_embeddings: bool
    attn_types: list
    processed: bool
    model_path: str
    processing: tuple

    def __getitem__(self, key):
        return getattr(self, key)

    def to_dict(self):
        return dataclasses.asdict(self)


def _progress_call(command, progress, call, **kwargs):
    """CALL(..., progress=callable) with a tqdm bar named COMMAND while it runs."""
    cb, close = progress_for(progress, command)
    try:
        return call(progress=cb, **kwargs)
    finally:
        close()


def _fspath(path):
    return None if path is None else os.fspath(path)


def circuit(model, name, heads, k=5, ranks="auto", method="fast", compare=False, components=0, singular=8,
            baseline_samples=200, seed=0, progress="auto", process=True):
    """Built-in circuit NAME (kcomp, qcomp, vcomp, ov, qk) of HEADS on MODEL: a
    Model, or a model path, opened for this call alone as the CLI opens it (only
    the circuit's tensors are read; PROCESS: the default weight processing)."""
    text, factors = _progress_call(name, progress, _circuitc.circuit, model=model if isinstance(model, Model) else
                                   os.fspath(model), circuit=name, heads=[_head(h) for h in heads], k=k, ranks=ranks,
                                   method=method, compare=compare, components=components, singular=singular,
                                   baseline_samples=baseline_samples, seed=seed, process=process)
    return CircuitResult.from_json(name, text, factors)


def _weight_property(name, doc):
    return property(lambda self: self.weight(name), doc=doc)


class Model(PairAnalyses, Attribution, ModelChecks, Atlas, _circuitc.Model):
    """A model loaded whole (every format ``circuitc`` reads), weights processed
    as TransformerLens' from_pretrained does unless ``process=False``.

    Weights are zero-copy, read-only numpy views with TransformerLens' names
    and shapes (``W_Q`` [n_layers, n_heads, d_model, d_head] ...); each array
    keeps the model alive. One model may be shared by threads: nothing the
    methods do writes to it, and compute runs with the GIL released."""

    def __init__(self, path=None, process=True, config=None, tokenizer=None):
        super().__init__(_fspath(path), process, _fspath(config))
        self.tokenizer = _fspath(tokenizer)  # a folder with vocab.json + merges.txt or tokenizer.json; None: the CLI's rule
        self.cfg = Config(**self.raw_cfg)

    def __repr__(self):
        c = self.cfg
        return (f"<circuitc.Model {c.model_path}: {c.family}, {c.n_layers} layers x {c.n_heads} heads, "
                f"d_model {c.d_model}, vocab {c.d_vocab}{'' if c.processed else ', unprocessed'}>")

    # ---- tokens ------------------------------------------------------------

    def to_tokens(self, input, prepend_bos=True):
        """Token ids [batch, pos] (int64) of a str or a list of str, as
        TransformerLens' to_tokens: BOS prepended unless prepend_bos=False, a
        batch padded on the right with the pad token."""
        texts = [input] if isinstance(input, str) else list(input)
        rows, pad = [], 0
        for text in texts:
            ids, pad = _circuitc.tokens(self, text, prepend_bos, self.tokenizer)
            rows.append(ids)
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), pad, dtype=np.int64)
        for b, r in enumerate(rows):
            out[b, :len(r)] = r
        return out

    def to_str_tokens(self, input, prepend_bos=True):
        """Each token's text: of a str (tokenized first) or of ids [pos]."""
        ids = self.to_tokens(input, prepend_bos)[0] if isinstance(input, str) else np.asarray(input).reshape(-1)
        return _circuitc.token_texts(self, _ids_text(ids), self.tokenizer)

    def to_string(self, tokens):
        """Ids [pos] decoded to one str; ids [batch, pos] to a list of them."""
        arr = np.asarray(tokens)
        if arr.ndim == 2:
            return [self.to_string(row) for row in arr]
        return _circuitc.decode(self, _ids_text(arr), self.tokenizer)

    # ---- forward passes ----------------------------------------------------

    @property
    def hook_names(self):
        """Every hook this model has, in the order the forward pass reaches them."""
        return _circuitc.hook_names(self)

    def _tokens_array(self, tokens):
        if isinstance(tokens, str) or (isinstance(tokens, list) and tokens and isinstance(tokens[0], str)):
            tokens = self.to_tokens(tokens)
        arr = np.asarray(tokens)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"tokens must be integer ids [batch, pos] or [pos], not {arr.dtype} {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.cfg.d_vocab):
            from ._errors import ArgumentError
            raise ArgumentError(f"token ids must be in [0, {self.cfg.d_vocab}) (d_vocab); got "
                                f"{int(arr.min())}..{int(arr.max())}")
        return np.ascontiguousarray(arr, dtype=np.intc)

    def _select(self, names_filter):
        if names_filter is None:
            return list(self.hook_names)
        if isinstance(names_filter, str):
            return [names_filter]
        if callable(names_filter):
            return [n for n in self.hook_names if names_filter(n)]
        return list(names_filter)

    def run_with_cache(self, tokens, names_filter=None, return_type="logits"):
        """(logits [batch, pos, d_vocab], ActivationCache) as TransformerLens'
        run_with_cache. names_filter: a hook name, a list of them or a
        predicate (default: every hook). The arrays are read-only views of
        the C pass's own buffers."""
        names = self._select(names_filter)
        want = names + (["logits"] if return_type == "logits" and "logits" not in names else [])
        arrays = _circuitc.run(self, self._tokens_array(tokens), cache=want)
        logits = arrays["logits"] if return_type == "logits" else None
        cache = ActivationCache({n: arrays[n] for n in names}, self)
        return logits, cache

    def __call__(self, tokens, return_type="logits"):
        """The logits [batch, pos, d_vocab] (return_type=None: nothing)."""
        return self.run_with_hooks(tokens, fwd_hooks=(), return_type=return_type)

    def run_with_hooks(self, tokens, fwd_hooks=(), return_type="logits"):
        """Runs with hooks [(name or predicate, fn)]: fn(act, hook) gets a
        writable view of the live activation (hook.name is its hook name) and
        may edit it in place, or return an array that replaces it; the rest
        of the pass uses the edited value. The view is valid during the call
        only: keep act.copy() to store it."""
        hooks = {}
        for selector, fn in fwd_hooks:
            for name in ([selector] if isinstance(selector, str) else [n for n in self.hook_names if selector(n)]):
                hooks[name] = _HookCall(name, fn)
        want = ["logits"] if return_type == "logits" else []
        arrays = _circuitc.run(self, self._tokens_array(tokens), cache=want, hooks=hooks)
        return arrays.get("logits")

    # ---- analyses: the CLI's commands ---------------------------------------

    def _circuit(self, name, heads, **options):
        return circuit(self, name, heads, **options)

    def kcomp(self, prev, ind, **options):
        """`circuitc kcomp PREV IND`: the K-composition circuit's exact top-k
        accuracy, spectrum and composition score. Options as the CLI's: k=5,
        ranks="auto"|"always"|"never", method="fast"|"brute", compare=False,
        components=0, singular=8, baseline_samples=200, seed=0, progress="auto"."""
        return self._circuit("kcomp", [prev, ind], **options)

    def qcomp(self, early, late, **options):
        """`circuitc qcomp EARLY LATE` (options as kcomp)."""
        return self._circuit("qcomp", [early, late], **options)

    def vcomp(self, early, late, **options):
        """`circuitc vcomp EARLY LATE` (options as kcomp)."""
        return self._circuit("vcomp", [early, late], **options)

    def ov(self, head, **options):
        """`circuitc ov HEAD`: the full OV circuit's copying accuracy (options as kcomp)."""
        return self._circuit("ov", [head], **options)

    def qk(self, head, **options):
        """`circuitc qk HEAD` (options as kcomp)."""
        return self._circuit("qk", [head], **options)

    def compile(self, circuit, order="optimal", explain=False, **bind):
        """`circuitc compile CIRCUIT --bind NAME=HEAD ...`: a circuit file (or a
        built-in's name) compiled for the heads bound by keyword (prev="L0H0"):
        shapes, factors, norm, the plan; order "optimal" or "tl". The result's
        .matrix is the compiled circuit as a circuitc.FactoredMatrix."""
        text, factors = _circuitc.compile(self, str(circuit), {k: _head(h) for k, h in bind.items()}, order=order,
                                          explain=explain)
        return Result.from_json("compile", text, factors)

    def comp_scores(self, mode="all", top=10, baseline_samples=200, seed=0, progress="auto"):
        """`circuitc comp-scores`: every earlier -> later head pair's composition
        scores (mode "q", "k", "v" or "all") and the random baseline."""
        return self._with_progress("comp-scores", progress, _circuitc.comp_scores, model=self,
                                   modes="qkv" if mode == "all" else mode, top=top,
                                   baseline_samples=baseline_samples, seed=seed)

    def discover(self, circuit="kcomp", top=10, baseline_samples=200, seed=0, runtime=True, seq_len=None,
                 batch=10, progress="auto"):
        """`circuitc discover`: (previous-token, induction) pairs ranked from the
        weights, checked against the runtime head scores unless runtime=False."""
        return self._with_progress("discover", progress, _circuitc.discover, model=self, circuit=circuit, top=top,
                                   baseline_samples=baseline_samples, seed=seed, runtime=runtime,
                                   seq_len=self._seq_len(seq_len), batch=batch)

    def _seq_len(self, seq_len):
        """The CLI's default --seq-len: 50, or the longest [BOS, A, A] that fits n_ctx."""
        return min(50, (self.cfg.n_ctx - 1) // 2) if seq_len is None else int(seq_len)

    def _with_progress(self, command, progress, call, **kwargs):
        """CALL(..., progress=callable) with a tqdm bar named COMMAND; its Result."""
        return Result.from_json(command, _progress_call(command, progress, call, **kwargs))

    def repeat(self, seq_len=None, batch=10, seed=0, progress="auto"):
        """`circuitc repeat`: correct-token log-probs on repeated random tokens."""
        return self._with_progress("repeat", progress, _circuitc.repeat, model=self, seed=seed,
                                   seq_len=self._seq_len(seq_len), batch=batch)

    def heads(self, seq_len=None, batch=10, seed=0, top=10, exclude_bos=False, exclude_current=False, progress="auto"):
        """`circuitc heads`: every head's induction, previous-token, duplicate,
        current-token and detect_head scores, ranked."""
        return self._with_progress("heads", progress, _circuitc.heads, model=self, seed=seed,
                                   seq_len=self._seq_len(seq_len), batch=batch, top=top, exclude_bos=exclude_bos,
                                   exclude_current=exclude_current)

    def pattern(self, head, prompt=None, tokens=None, seq_len=None, seed=0, prepend_bos=True, threads=0):
        """`circuitc pattern HEAD`: its attention pattern on one repeated
        sequence, or on PROMPT (text) / TOKENS (ids) when given. threads: the
        most threads the call uses (0: the library's default)."""
        if prompt is None and tokens is None:
            return Result.from_json("pattern", _circuitc.pattern(self, seed, self._seq_len(seq_len), 1, _head(head),
                                                                 threads=_threads(threads)))
        return self._prompt("pattern", prompt, tokens, prepend_bos, head=_head(head), threads=threads)

    def ablate(self, *heads, mode="mean", seq_len=None, batch=10, seed=0, progress="auto"):
        """`circuitc ablate HEAD...`: the heads' hook_z mean- or zero-ablated
        together; the loss and every head's induction-score change."""
        return self._with_progress("ablate", progress, _circuitc.ablate, model=self, seed=seed,
                                   seq_len=self._seq_len(seq_len), batch=batch, heads=[_head(h) for h in heads],
                                   mode=mode)

    def patch_mlp_out(self, seq_len=None, seed=0, naive=False, progress="auto"):
        """`circuitc patch mlp_out` on one repeated sequence: loss change when
        blocks.l.hook_mlp_out[p] takes its value at p - seq_len, every l and p."""
        return self._with_progress("patch", progress, _circuitc.patch_sweep, model=self, seed=seed,
                                   seq_len=self._seq_len(seq_len), batch=1, naive=naive)

    def repeated_tokens(self, seq_len=None, batch=10, seed=0):
        """The commands' input: BATCH sequences [BOS, A, A] of seq_len random
        tokens A drawn from SEED (int64 [batch, 1 + 2 seq_len]), exactly those
        repeat, heads, ablate ... run on."""
        return _circuitc.repeated_tokens(self, seed, self._seq_len(seq_len), batch)

    def _prompt(self, command, prompt, tokens, prepend_bos, threads, **kw):
        if (prompt is None) == (tokens is None):
            raise TypeError(f"{command}: give exactly one of prompt (text) and tokens (ids)")
        text = _circuitc.prompt_analysis(self, command, text=prompt,
                                         tokens=None if tokens is None else _ids_text(tokens),
                                         prepend_bos=prepend_bos, tokenizer=self.tokenizer, threads=_threads(threads),
                                         **kw)
        return Result.from_json(command, text)

    def dla(self, answer, wrong=None, prompt=None, tokens=None, prepend_bos=True, threads=0):
        """`circuitc dla`: direct logit attribution of ANSWER (minus WRONG) at
        the last position. A token is one token's text (" Mary") or "#ID".
        threads: the most threads the call uses (0: the library's default)."""
        return self._prompt("dla", prompt, tokens, prepend_bos, threads, answer=answer, wrong=wrong)

    def lens(self, prompt=None, tokens=None, top=10, prepend_bos=True, threads=0):
        """`circuitc lens`: the logit lens over every layer's residual stream
        (threads: as dla's)."""
        return self._prompt("lens", prompt, tokens, prepend_bos, threads, top=top)

    def next_tokens(self, prompt=None, tokens=None, top=10, prepend_bos=True, threads=0):
        """`circuitc run`: the next-token predictions at every position
        (threads: as dla's)."""
        return self._prompt("run", prompt, tokens, prepend_bos, threads, top=top)


_WEIGHTS = {
    "W_E": "[d_vocab, d_model]", "W_pos": "[n_ctx, d_model]; None with rotary positions",
    "W_Q": "[n_layers, n_heads, d_model, d_head]", "W_K": "[n_layers, n_heads, d_model, d_head]",
    "W_V": "[n_layers, n_heads, d_model, d_head]", "W_O": "[n_layers, n_heads, d_head, d_model]",
    "b_Q": "[n_layers, n_heads, d_head]", "b_K": "[n_layers, n_heads, d_head]", "b_V": "[n_layers, n_heads, d_head]",
    "b_O": "[n_layers, d_model]", "W_in": "[n_layers, d_model, d_mlp]", "W_gate": "[n_layers, d_model, d_mlp]",
    "b_in": "[n_layers, d_mlp]", "W_out": "[n_layers, d_mlp, d_model]", "b_out": "[n_layers, d_model]",
    "W_U": "[d_model, d_vocab]", "b_U": "[d_vocab]",
    "ln1_w": "[n_layers, d_model]; None once folded", "ln1_b": "[n_layers, d_model]; None once folded",
    "ln2_w": "[n_layers, d_model]; None once folded", "ln2_b": "[n_layers, d_model]; None once folded",
    "lnf_w": "[d_model]; None once folded", "lnf_b": "[d_model]; None once folded",
}
for _name, _shape in _WEIGHTS.items():
    setattr(Model, _name, _weight_property(_name, f"{_name} {_shape}: a read-only float32 view (None when absent)"))


class _HookPoint:
    """What a hook function receives as ``hook``: its name, as TransformerLens' HookPoint."""

    def __init__(self, name):
        self.name = name

    def layer(self):
        m = re.match(r"blocks\.(\d+)\.", self.name)
        return int(m.group(1)) if m else None

    def __repr__(self):
        return f"HookPoint({self.name!r})"


class _HookCall:
    """Calls fn(act, hook); an array returned replaces the activation."""

    def __init__(self, name, fn):
        self.hook = _HookPoint(name)
        self.fn = fn

    def __call__(self, act):
        out = self.fn(act, self.hook)
        if out is not None and out is not act:
            np.copyto(act, out)


def load(path=None, process=True, config=None, tokenizer=None):
    """Loads a model: a folder (config.json + model.safetensors, or a sharded
    checkpoint's index), a .safetensors file (config.json beside it or CONFIG)
    or a TransformerLens export; None: $CIRCUITC_MODEL, else the bundled
    fixture. process: TransformerLens' default weight processing."""
    return Model(path, process, config, tokenizer)
