"""The process's own memory figures (/proc/self/status) for the TransformerLens
side of the benchmarks: the current and peak RSS, and resetting the peak."""


def status_kib(key):
    """VmRSS, VmHWM, ... of this process in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak():
    """Resets VmHWM to the current RSS, so the next peak is one call's."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
