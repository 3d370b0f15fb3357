"""tokenizer.json fixtures (GPT-NeoX and Llama style) and their goldens.

  python tokenizer_json_goldens.py --train     retrain the fixtures (golden/tokenizers/*/tokenizer.json)
  python tokenizer_json_goldens.py             goldens from the committed fixtures
  python tokenizer_json_goldens.py --check     regenerate the goldens into a temp dir and compare

Real Pythia and Llama tokenizers cannot be fetched here, so each fixture is a small BPE
(< 512 tokens, the model fixtures' d_vocab) trained with Hugging Face `tokenizers` on a
varied corpus and given the structure of the real files' tokenizer.json:

  neox          EleutherAI/pythia: NFC, ByteLevel(add_prefix_space false), ByteLevel
                post-processor and decoder, merges as "a b" strings, <|endoftext|> and
                <|padding|> in the vocabulary, whitespace runs as non-special added tokens
  neox-prefix   the same with add_prefix_space true, merges as ["a", "b"] pairs,
                ignore_merges, and added tokens with lstrip / rstrip / single_word / normalized false
  llama2        Llama 2 / TinyLlama: Prepend("▁") + Replace(" ", "▁") normalizer, no
                pre-tokenizer, byte_fallback with <0x00>..<0xFF>, <unk> <s> </s>, decoder
                Replace + ByteFallback + Fuse + Strip, "<s> $A" template
  llama-meta    newer Llama conversions: Metaspace(prepend_scheme "first", split false)
                pre-tokenizer instead of the normalizer, same decoder
  llama-always  Metaspace(prepend_scheme "always", split true) and the Metaspace decoder

Goldens: golden/out/tokenizers/NAME.jsonl, the corpus of tokenizer_corpus.py (plus each
fixture's own special tokens inline) encoded by Tokenizer.from_file(...).encode(text,
add_special_tokens=False).ids and decoded by decode(ids, skip_special_tokens=False);
format in golden/FORMAT.md ("tokenizer.json corpora").
"""
import argparse
import datetime
import json
import os
import random
import sys
import tempfile

from sources import provenance_sources, sha256_file

import tokenizer_corpus as corpus

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "tokenizers")
OUT_DIR = os.path.join(HERE, "out", "tokenizers")
NAMES = ["neox", "neox-prefix", "llama2", "llama-meta", "llama-always"]
SEED = 19
VOCAB_SIZE = 480
SPECIALS = {"neox": ["<|endoftext|>", "<|padding|>", "<mask>", "<sep>"], "llama": ["<s>", "</s>", "<unk>"]}


def training_text():
    """English prose, code and every script of the test corpus, deterministic."""
    rng = random.Random(SEED)
    prose = ("The quick brown fox jumps over the lazy dog. When Mary and John went to the store, John gave a "
             "drink to Mary. It's the 3rd of May; they're here, we've seen 12,345 people and I'll be 42 in 2026. ")
    lines = [prose * 3]
    lines += [corpus.random_text(rng) for _ in range(3000)]
    lines += ["def f(x):\n    return x**2\n\nfor (int i = 0; i < n; i++) { sum += a[i]; }\n"] * 20
    return lines


def train(kind):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "neox":
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["<|endoftext|>", "<|padding|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
        byte_tokens = ["<0x%02X>" % b for b in range(256)]
        trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                                      limit_alphabet=60, show_progress=False)
    tok.train_from_iterator(training_text(), trainer=trainer)
    return json.loads(tok.to_str())


def added(id_, content, special, normalized, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def neox_files(base):
    """NAME -> tokenizer.json for the two GPT-NeoX fixtures, from one trained model."""
    model = base["model"]
    n = len(model["vocab"])
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    neox = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<|endoftext|>", True, False), added(1, "<|padding|>", True, False),
                         added(n, "    ", False, True), added(n + 1, "  ", False, True)],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": dict(byte_level),
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": dict(model, merges=[" ".join(m) for m in model["merges"]]),
    }
    prefix = json.loads(json.dumps(neox))
    prefix["pre_tokenizer"]["add_prefix_space"] = True
    prefix["model"]["merges"] = model["merges"]
    prefix["model"]["ignore_merges"] = True
    prefix["added_tokens"] = [added(0, "<|endoftext|>", True, False), added(1, "<|padding|>", True, False),
                              added(n, "<mask>", True, False, lstrip=True), added(n + 1, "<sep>", True, True, rstrip=True),
                              added(n + 2, "e\u0301t\u00e9", False, True), added(n + 3, "  ", False, False,
                                                                                   lstrip=True, rstrip=True),
                              added(n + 4, "fox", False, True, single_word=True),
                              added(n + 5, "<w>", True, False, single_word=True, lstrip=True)]
    return {"neox": neox, "neox-prefix": prefix}


def llama_files(base):
    model = dict(base["model"], merges=base["model"]["merges"])
    specials = [added(0, "<unk>", True, False), added(1, "<s>", True, False), added(2, "</s>", True, False)]
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    common = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": specials,
              "post_processor": template, "model": model}
    llama2 = dict(common, normalizer={"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        pre_tokenizer=None, decoder=decoder)
    meta = dict(common, normalizer=None, decoder=decoder, pre_tokenizer={
        "type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False})
    always = dict(common, normalizer=None, pre_tokenizer={
        "type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True})
    return {"llama2": llama2, "llama-meta": meta, "llama-always": always}


def write_fixtures():
    files = dict(neox_files(train("neox")), **llama_files(train("llama")))
    for name, content in files.items():
        os.makedirs(os.path.join(FIXTURES, name), exist_ok=True)
        with open(os.path.join(FIXTURES, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=1)
            f.write("\n")


def fixture_cases(name):
    """The shared corpus, with this fixture's special tokens where GPT-2's stood."""
    kind = "neox" if name.startswith("neox") else "llama"
    rng = random.Random(SEED)
    cases = [c for c in corpus.build_cases()]
    sp = SPECIALS[kind]
    extra = []
    for s in sp:
        extra += [s, " " + s, s + " ", "a" + s + "b", s + s, "x " + s + "  y", "  " + s + "\n", s[:-1], s + "Hello",
                  "Hello " + s + " world", "\u00e9t\u00e9 " + s + " \u00e9t\u00e9", "    " + s + "    "]
    for _ in range(300):
        parts = [rng.choice(sp) if rng.random() < 0.3 else corpus.random_text(rng) for _ in range(rng.randint(1, 5))]
        extra.append("".join(parts))
    # NFC: composition, canonical reordering of marks, singletons, exclusions, Hangul
    extra += ["a\u0301\u0316", "e\u0301\u0323x", "o\u031b\u0301\u0323", "\u212b", "A\u030a", "\u0344", "\u0958",
              "\u1100\u1161\u11a8", "\uac00\u11a8", "q\u0307\u0323", "\u1e0b\u0323", "\u0300a\u0300"]
    # single_word: "fox" and "<w>" only where no word character (\\w: letters, marks, digits, _) touches them
    extra += ["fox", "foxes fox,fox_fox 7fox fox7 \u00e9fox fox\u0301 fox\u00e9 (fox) fox-fox \u4e16fox",
              "a<w>b <w> x<w> <w>y _<w>_ \u0663<w>", "  <w>  fox  "]
    extra += ["\u00e9t\u00e9", "e\u0301te\u0301", "e\u0301t\u00e9", "  ", "    ", "        x", "x    y", "\t    \t", "▁", "▁▁x", "x▁",
              "<0x41>", "<0xZZ>", "\u2581 \u2581"]
    return cases + [{"text": t} for t in extra]


def generate(out_dir):
    import tokenizers
    from tokenizers import Tokenizer

    os.makedirs(out_dir, exist_ok=True)
    provenance = {
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "oracle": "tokenizers.Tokenizer.from_file(tokenizer.json): encode(text, add_special_tokens=False).ids, "
                  "decode(ids, skip_special_tokens=False)",
        "versions": {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__},
        **provenance_sources("tokenizer_json_goldens.py", ['tokenizer_corpus.py']),
        "seed": SEED, "fixtures": {},
    }
    for name in NAMES:
        path = os.path.join(FIXTURES, name, "tokenizer.json")
        tok = Tokenizer.from_file(path)
        lines = []
        for case in fixture_cases(name):
            text = bytes.fromhex(case["bytes"]).decode("utf-8", "replace") if "bytes" in case else case["text"]
            ids = tok.encode(text, add_special_tokens=False).ids
            lines.append(dict(case, ids=ids, decoded=tok.decode(ids, skip_special_tokens=False)))
        for ids in corpus.random_id_sequences(random.Random(SEED + 1), tok.get_vocab_size()):
            lines.append({"decode": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
        with open(os.path.join(out_dir, name + ".jsonl"), "w", encoding="utf-8") as f:
            for case in lines:
                f.write(json.dumps(case, ensure_ascii=False) + "\n")
        provenance["fixtures"][name] = {"tokenizer.json": sha256_file(path), "vocab_size": tok.get_vocab_size(),
                                        "cases": sum(1 for c in lines if "ids" in c),
                                        "decode_cases": sum(1 for c in lines if "decode" in c)}
    with open(os.path.join(out_dir, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.train:
        write_fixtures()
    if not args.check:
        generate(OUT_DIR)
        print("[tokenizer_json_goldens] wrote %s" % OUT_DIR, file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        same = all(open(os.path.join(tmp, n + ".jsonl"), "rb").read() == open(os.path.join(OUT_DIR, n + ".jsonl"), "rb").read()
                   for n in NAMES)
    print("[tokenizer_json_goldens] check: " + ("identical" if same else "DIFFERS from the committed goldens"),
          file=sys.stderr)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
