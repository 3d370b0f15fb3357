"""eap_ref.py: the reference EAP-IG implementation (github hannamw/EAP-IG, on
TransformerLens) scoring the same prompt pairs as `circuitc eap --pairs`, as one
process (imports, model loading, the scores), for bench/eap_bench.py. Runs in
the golden environment (golden/.venv: torch, TransformerLens). Prints one JSON
object: {edge name: score}, the metric on the clean and corrupted runs.

    eap_ref.py MODEL_DIR EAP_IG_DIR PAIRS.jsonl METHOD STEPS BATCH

The reference is imported from EAP_IG_DIR (its src/eap), never copied, and
patched at run time only so that it runs on a CPU:
  - it creates its score and activation buffers with torch.zeros(...,
    device='cuda'): the modules' `torch` is replaced by a proxy whose factory
    functions turn device='cuda' into 'cpu' (everything else is torch itself);
  - eap.graph imports eap.visualization, which needs matplotlib (only for
    drawing graphs): a stand-in module without it is registered first."""
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))

import torch  # noqa: E402

from common import load_tl  # noqa: E402

CUDA_FACTORIES = ("zeros", "ones", "empty", "full", "tensor", "arange", "zeros_like", "ones_like")


class CpuTorch:
    """torch, with device='cuda' in the factory functions read as 'cpu'."""

    def __getattr__(self, name):
        f = getattr(torch, name)
        if name not in CUDA_FACTORIES:
            return f

        def on_cpu(*args, **kwargs):
            if kwargs.get("device") == "cuda":
                kwargs["device"] = "cpu"
            return f(*args, **kwargs)
        return on_cpu


def import_reference(root):
    sys.path.insert(0, os.path.join(root, "src"))
    vis = types.ModuleType("eap.visualization")  # drawing only; needs matplotlib
    vis.get_color = vis.generate_random_color = lambda *a, **k: None
    sys.modules["eap.visualization"] = vis
    import eap.attribute
    import eap.evaluate
    import eap.graph
    import eap.utils
    for mod in (eap.attribute, eap.evaluate, eap.graph, eap.utils):
        mod.torch = CpuTorch()
    return eap.attribute, eap.graph


def main():
    model_dir, root, pairs_path, method, steps, batch = sys.argv[1:7]
    steps, batch = int(steps), int(batch)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    attribute, graph_mod = import_reference(root)
    from transformers import GPT2TokenizerFast
    model = load_tl(model_dir)
    model.set_tokenizer(GPT2TokenizerFast.from_pretrained(os.path.join(HERE, "..", "third_party", "gpt2-tokenizer")))
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    with open(pairs_path) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    data = [(p["clean"], p["corrupt"], torch.tensor([model.to_single_token(p["answer"]),
                                                     model.to_single_token(p["wrong"])])) for p in pairs]
    loader = [([d[0] for d in data[i:i + batch]], [d[1] for d in data[i:i + batch]],
               torch.stack([d[2] for d in data[i:i + batch]])) for i in range(0, len(data), batch)]

    def logit_diff(logits, clean_logits, input_length, labels):
        rows = torch.arange(logits.size(0))
        last = logits[rows, input_length - 1]
        return (last[rows, labels[:, 0]] - last[rows, labels[:, 1]]).mean()

    g = graph_mod.Graph.from_model(model)
    attribute.attribute(model, g, loader, logit_diff, method, ig_steps=steps if steps else None, quiet=True)
    print(json.dumps({"scores": {name: e.score.item() if torch.is_tensor(e.score) else float(e.score)
                                 for name, e in g.edges.items()}}))


if __name__ == "__main__":
    main()
