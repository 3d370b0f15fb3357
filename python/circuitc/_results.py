"""Result objects: the CLI's JSON body of a command, as attributes.

Each analysis returns a ``Result`` built from the library's own JSON
serialiser (the body ``circuitc COMMAND --json`` prints after its envelope),
so its keys and numbers are the CLI's; the values here carry full float64
precision where the CLI prints 9 significant digits.
"""

import copy
import json

__all__ = ["Result", "CircuitResult"]


class Result:
    """The result of one analysis. ``r.KEY`` or ``r["KEY"]`` reads a key of the
    CLI's JSON; ``r.to_dict()`` gives all of them; ``r.command`` names the
    command that computed it."""

    def __init__(self, command, body, matrix=None):
        self._command = command
        self._body = body
        self.matrix = matrix  # a compiled circuit (compile, kcomp ...): its FactoredMatrix, else None

    @classmethod
    def from_json(cls, command, text, matrix=None):
        return cls(command, json.loads(text), matrix)

    @property
    def command(self):
        return self._command

    def to_dict(self):
        """A deep copy of the JSON body (the CLI's keys, without its envelope)."""
        return copy.deepcopy(self._body)

    def keys(self):
        return self._body.keys()

    def __getitem__(self, key):
        return self._body[key]

    def __getattr__(self, key):
        body = self.__dict__.get("_body")
        if body is not None and key in body:
            return body[key]
        raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('_command')!r} has no key {key!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._body))

    def __repr__(self):
        return f"<{self._command} result: {', '.join(self._body)}>"


class CircuitResult(Result):
    """kcomp, qcomp, vcomp, ov, qk: exact top-k accuracy both ways, the
    spectrum and, for two heads, the composition score; .matrix is the
    compiled circuit (a circuitc.FactoredMatrix)."""

    def __repr__(self):
        b = self._body
        heads = " -> ".join(f"{k}={v}" for k, v in b["bindings"].items())
        n = b["shape"][0]
        line = (f"{self._command} {heads}: top-1 rows {b['rows']['top1']}/{n}, "
                f"cols {b['cols']['top1']}/{n}, rank {b['rank']}")
        comp = b.get("composition")
        if comp:
            line += f", {comp['mode']}-composition score {comp['score']:.6f}"
            if comp.get("baseline_samples"):
                line += f" ({comp['ratio_to_baseline']:.2f} x baseline)"
        return line
