"""Hugging Face side of bench/tokenizer_bench: the same text encoded by the Rust
`tokenizers` library (GPT2TokenizerFast's backend) on one thread, printed as one
JSON object on stdout. Run with golden/.venv's python:

    tokenizer_hf.py TOKENIZER_DIR TEXT_FILE IDS_OUT [--reps R]

(a) whole: Tokenizer.encode(text) of the whole file, R times on one tokenizer
    (the first run with an empty cache); its ids go to IDS_OUT (int32, native order).
Every run is timed in wall-clock and process CPU seconds.
(b) lines: Tokenizer.encode_batch_fast(lines) of the file's lines (newline kept;
    the library's fastest path: no offsets), R times; RAYON_NUM_THREADS=1 keeps
    the batch on one core."""
import json
import os
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

from array import array  # noqa: E402

from transformers import GPT2TokenizerFast  # noqa: E402


def timed(fn, reps):
    """FN's result and, per run, [wall seconds, process CPU seconds]."""
    seconds, out = [], None
    for _ in range(reps):
        out = None  # free the previous result outside the timed window
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        seconds.append([time.perf_counter() - w0, time.process_time() - c0])
    return out, seconds


def main():
    tokenizer_dir, text_file, ids_out = sys.argv[1:4]
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 5
    with open(text_file, encoding="utf-8") as f:
        text = f.read()
    fast = GPT2TokenizerFast(vocab_file=os.path.join(tokenizer_dir, "vocab.json"),
                             merges_file=os.path.join(tokenizer_dir, "merges.txt"))
    tok = fast.backend_tokenizer
    whole, whole_s = timed(lambda: tok.encode(text), reps)
    with open(ids_out, "wb") as f:
        array("i", whole.ids).tofile(f)
    pieces = text.split("\n")  # on "\n" only, as the C side (str.splitlines also cuts at \r, \x0b, U+2028, ...)
    lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    batch, lines_s = timed(lambda: tok.encode_batch_fast(lines, add_special_tokens=False), reps)
    print(json.dumps({"bytes": len(text.encode()), "ids": len(whole.ids), "whole_s": whole_s,
                      "lines": len(lines), "lines_ids": sum(len(e.ids) for e in batch), "lines_s": lines_s}))


if __name__ == "__main__":
    main()
