"""TransformerLens side of bench/patch_bench.py, as one process: imports,
HookedTransformer loading with the default processing, GPT2TokenizerFast
(BOS prepended, as to_tokens does), then patching.get_act_patch_resid_pre on the
prompt pair with the logit-difference metric (after a clean run_with_cache, as
its users write it). Prints one JSON object: the kernel's wall and CPU seconds
(the clean run plus the patching), the [L, T] results, the clean and corrupted metric.

    patch_tl.py MODEL_DIR --clean TEXT --corrupt TEXT --answer TEXT --wrong TEXT"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
os.environ.setdefault("TQDM_DISABLE", "1")  # get_act_patch_* draws a progress bar per call

import torch  # noqa: E402

from common import load_tl  # noqa: E402


def setup(argv=None):
    """Parses ARGV (MODEL_DIR --clean ... --wrong ...), loads the model and
    tokenizes the pair: (model, clean, corrupt, logit_diff metric)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    for k in ("clean", "corrupt", "answer", "wrong"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                         "third_party", "gpt2-tokenizer"))
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    from transformers import GPT2TokenizerFast

    model = load_tl(args.model, processing=True)
    tok = GPT2TokenizerFast(vocab_file=os.path.join(args.tokenizer, "vocab.json"),
                            merges_file=os.path.join(args.tokenizer, "merges.txt"))
    bos = model.cfg.d_vocab - 1
    clean = torch.tensor([[bos] + tok(args.clean)["input_ids"]])
    corrupt = torch.tensor([[bos] + tok(args.corrupt)["input_ids"]])
    (answer,), (wrong,) = tok(args.answer)["input_ids"], tok(args.wrong)["input_ids"]

    def logit_diff(logits):
        return logits[0, -1, answer] - logits[0, -1, wrong]

    return model, clean, corrupt, logit_diff


def main():
    from transformer_lens import patching

    model, clean, corrupt, logit_diff = setup()
    with torch.no_grad():
        t0, c0 = time.perf_counter(), time.process_time()
        clean_logits, clean_cache = model.run_with_cache(clean)
        result = patching.get_act_patch_resid_pre(model, corrupt, clean_cache, logit_diff)
        kernel, kernel_cpu = time.perf_counter() - t0, time.process_time() - c0
        corrupt_value = float(logit_diff(model(corrupt)))
    json.dump({"kernel_seconds": kernel, "kernel_cpu_seconds": kernel_cpu, "value": result.tolist(), "clean": float(logit_diff(clean_logits)),
               "corrupt": corrupt_value, "torch": torch.__version__, "threads": torch.get_num_threads()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
