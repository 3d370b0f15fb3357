"""The OpenBLAS kernel of this process, chosen before the extension module loads
OpenBLAS (docs/blas.md): circuitc-blas-plan, installed beside this file and run
as a child process, decides as the circuitc tool does and names the variables
to set. Nothing is run when the user set OPENBLAS_CORETYPE (which always wins)
or CIRCUITC_BLAS_CORE=keep."""

import os
import subprocess
import warnings

_PLANNER = os.path.join(os.path.dirname(__file__), "circuitc-blas-plan")
_SETS = ("OPENBLAS_CORETYPE", "CIRCUITC_BLAS_SELECTED")


def choose_kernel():
    if "OPENBLAS_CORETYPE" in os.environ or os.environ.get("CIRCUITC_BLAS_CORE") == "keep":
        return
    try:
        # a first run self-checks the candidate kernels (about 0.1 s each); the verdicts are cached
        lines = subprocess.run([_PLANNER], capture_output=True, text=True, check=True, timeout=300).stdout
    except (OSError, subprocess.SubprocessError) as e:
        warnings.warn(f"circuitc: the BLAS kernel planner {_PLANNER} failed ({e}); running on the library's own "
                      "kernel", RuntimeWarning, stacklevel=3)
        return
    for line in lines.splitlines():
        name, _, value = line.partition("=")
        if name in _SETS:
            os.environ[name] = value
        elif name == "refused":
            warnings.warn(f"circuitc: {value}; running on the library's own kernel", RuntimeWarning, stacklevel=3)
