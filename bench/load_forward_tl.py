"""TransformerLens' side of the large-model check (bench/README.md, "Families"):
load a model folder the usual way (golden/common.load_tl: its weight conversion
and default processing) and run one forward pass on the tokens 0..10; prints the
loss and the seconds. Run under /usr/bin/time for the peak RSS.

    /usr/bin/time -f "%e s, %M KiB" golden/.venv/bin/python bench/load_forward_tl.py DIR
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
from common import load_tl  # noqa: E402

t = time.time()
m = load_tl(sys.argv[1], processing=True)
tok = torch.tensor([list(range(11))])
with torch.no_grad():
    loss = m(tok, return_type="loss")
print("loss", float(loss), "seconds", time.time() - t)
