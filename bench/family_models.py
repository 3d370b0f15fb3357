"""Random-weight models shaped like the families' small checkpoints, for the
benchmarks (bench/README.md, "Families"): `transformers` builds them from a
config (AutoModelForCausalLM.from_config, torch seed 0) and saves them as
Hugging Face folders. Real weights are not downloadable here; the shapes are
the published ones.

    golden/.venv/bin/python bench/family_models.py pythia-160m DIR
    golden/.venv/bin/python bench/family_models.py smollm-135m DIR
    golden/.venv/bin/python bench/family_models.py pythia-1.4b DIR
    golden/.venv/bin/python bench/family_models.py gpt2-xl DIR
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, GPT2Config, GPTNeoXConfig, LlamaConfig  # noqa: E402

SHAPES = {
    # EleutherAI/pythia-160m: GPT-NeoX, rotary on a quarter of each head, parallel attention and MLP
    "pythia-160m": lambda: GPTNeoXConfig(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=50304,
        max_position_embeddings=2048, rotary_pct=0.25, use_parallel_residual=True, hidden_act="gelu",
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=0),
    # EleutherAI/pythia-1.4b: 24 x 16 heads, d 2048 (saved in float16, as published)
    "pythia-1.4b": lambda: GPTNeoXConfig(
        hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, intermediate_size=8192, vocab_size=50304,
        max_position_embeddings=2048, rotary_pct=0.25, use_parallel_residual=True, hidden_act="gelu",
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=0, torch_dtype="float16"),
    # gpt2-xl: 48 x 25 heads, d 1600 (float32, as published)
    "gpt2-xl": lambda: GPT2Config(n_embd=1600, n_layer=48, n_head=25, vocab_size=50257, n_positions=1024),
    # HuggingFaceTB/SmolLM-135M: Llama, GQA 9/3, SwiGLU, rotary, tied embeddings
    "smollm-135m": lambda: LlamaConfig(
        hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, intermediate_size=1536,
        vocab_size=49152, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        raise SystemExit(f"usage: family_models.py {{{','.join(SHAPES)}}} DIR")
    torch.manual_seed(0)
    cfg = SHAPES[sys.argv[1]]()
    model = AutoModelForCausalLM.from_config(cfg)
    if getattr(cfg, "torch_dtype", None) == torch.float16:
        model = model.half()
    model.save_pretrained(sys.argv[2], safe_serialization=True)


if __name__ == "__main__":
    main()
