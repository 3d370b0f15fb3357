"""A circuit on a model path costs what the CLI's command costs (issue 21: within
5% of its whole process): `import circuitc` and circuitc.kcomp(PATH, ...)
import no numpy and, drawing no bar where no one sees it (stderr a pipe), no
tqdm (each about 0.1 s of CPU)."""

import subprocess
import sys


def test_a_circuit_on_a_path_imports_neither_numpy_nor_tqdm(model):
    code = ("import sys, circuitc\n"
            "r = circuitc.kcomp(sys.argv[1], 'L0H0', 'L1H0')\n"
            "assert r.rank > 0\n"
            "print(' '.join(m for m in ('numpy', 'tqdm') if m in sys.modules) or 'none')")
    done = subprocess.run([sys.executable, "-c", code, model.cfg.model_path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["none"]
