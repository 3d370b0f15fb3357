"""TransformerLens side of bench/attribute_bench.py: one task per process
(imports, HookedTransformer loading with the default processing, tokenizing
included), its result printed as one JSON object with the task's own wall and
CPU seconds ("kernel"). Run with golden/.venv's python:

    attribute_tl.py exact|attribute HOOK MODEL_DIR --clean TEXT --corrupt TEXT --answer TEXT --wrong TEXT
    attribute_tl.py sweep MODEL_DIR [--seq-len 50] [--seed 0]

exact: a clean run_with_cache, then patching.get_act_patch_{HOOK} (resid_pre,
attn_out or mlp_out) with the logit-difference metric, [L, T] patched metrics.
attribute: attribution patching as TransformerLens' attribution-patching demo
does it: a clean run_with_cache; the corrupted run with a forward hook caching
the hook's activation and a backward hook caching its gradient (added with
add_hook(..., "bwd")), one backward pass of the metric (the weights' gradients
computed too, as there); (clean - corrupt) * gradient summed over d_model,
[L, T]. Only the one hook is cached (the demo caches every hook; this is the
cheaper choice for TransformerLens). sweep: the repeated-token mlp_out sweep
of bench/runtime_whole_tl.py (one run_with_hooks per layer x position)."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("TQDM_DISABLE", "1")  # get_act_patch_* draws a progress bar per call

import torch  # noqa: E402

from patch_tl import setup  # noqa: E402
from runtime_whole_tl import arg, bos_token_id, run_patch  # noqa: E402
from common import load_tl, repeat_tokens  # noqa: E402  (golden/, on the path through patch_tl)


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def exact(model, clean, corrupt, metric, hook):
    from transformer_lens import patching

    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean)
        value = getattr(patching, f"get_act_patch_{hook}")(model, corrupt, clean_cache, metric)
    return {"value": value.tolist()}


def attribute(model, clean, corrupt, metric, hook):
    suffix = f"hook_{hook}"
    wanted = lambda name: name.endswith(suffix)  # noqa: E731
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean, names_filter=wanted)
    model.reset_hooks()
    cache, grads = {}, {}

    def forward_cache_hook(act, hook):
        cache[hook.name] = act.detach()

    def backward_cache_hook(act, hook):
        grads[hook.name] = act.detach()

    model.add_hook(wanted, forward_cache_hook, "fwd")
    model.add_hook(wanted, backward_cache_hook, "bwd")
    value = metric(model(corrupt))
    value.backward()
    model.reset_hooks()
    names = [f"blocks.{l}.{suffix}" for l in range(model.cfg.n_layers)]
    attr = torch.stack([((clean_cache[n] - cache[n]) * grads[n]).sum(-1)[0] for n in names])  # [L, T]
    return {"attribution": attr.double().tolist(), "corrupt": value.item()}


def main():
    task = sys.argv[1]
    if task == "sweep":
        args = sys.argv[2:]
        n, seed = arg(args, "--seq-len", 50), arg(args, "--seed", 0)
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        torch.set_grad_enabled(False)
        model = load_tl(args[0], processing=True)
        tokens = torch.from_numpy(repeat_tokens(seed, 1, n, model.cfg.d_vocab, bos_token_id(args[0])))
        out, wall, cpu = timed(lambda: run_patch(model, tokens, n))
    else:  # attribution is timed best of BENCH_TL_REPS in the process (the first call warms torch up)
        hook = sys.argv[2]
        model, clean, corrupt, metric = setup(sys.argv[3:])
        work = {"exact": exact, "attribute": attribute}[task]
        reps = int(os.environ.get("BENCH_TL_REPS", "3")) if task == "attribute" else 1
        runs = [timed(lambda: work(model, clean, corrupt, metric, hook)) for _ in range(reps)]
        out, wall, cpu = runs[-1][0], min(r[1] for r in runs), min(r[2] for r in runs)
    out.update({"kernel_seconds": wall, "kernel_cpu_seconds": cpu, "torch": torch.__version__,
                "threads": torch.get_num_threads()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
