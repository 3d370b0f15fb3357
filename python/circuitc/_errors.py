"""The exceptions circuitc raises, one class per kind of failure.

Every failure of the C library arrives here as its message and its error
code (cc_error) and becomes an instance of one of these classes: the code
chooses the class (``_CODE_TABLE``); a format error about a tokenizer file is
a TokenizerError.
"""

import re

__all__ = [
    "Error", "ArgumentError", "ModelFormatError", "FileError", "TokenizerError",
    "NonFiniteError", "OutOfMemoryError", "UnsupportedError", "CancelledError",
]


class Error(Exception):
    """Base class of every error circuitc raises. ``str(e)`` is the library's
    message: what went wrong, where (file, tensor, field) and what to do."""


class ArgumentError(Error, ValueError):
    """An argument the caller gave is wrong: a head or hook the model does not
    have, a size out of range, a hook that kept its activation."""


class ModelFormatError(Error, ValueError):
    """A model folder, config.json or safetensors file that circuitc refuses."""


class FileError(Error, OSError):
    """A file or folder that cannot be opened, read or written."""


class TokenizerError(Error, ValueError):
    """A tokenizer that cannot be read, or that does not fit the model or the text."""


class NonFiniteError(Error, ArithmeticError):
    """NaN or infinite weights or activations (or logits reaching 2^24)."""


class OutOfMemoryError(Error, MemoryError):
    """The library could not allocate what the call needs."""


class UnsupportedError(Error, NotImplementedError):
    """The model or file needs something circuitc does not implement (a
    config feature, a hook the architecture lacks)."""


class CancelledError(Error):
    """The work was stopped through its progress callback."""


# The library's codes (cc_error_code_name) to classes.
_CODE_TABLE = {
    "arg": ArgumentError, "value": ArgumentError, "io": FileError, "format": ModelFormatError,
    "nomem": OutOfMemoryError, "nonfinite": NonFiniteError, "unsupported": UnsupportedError,
    "cancelled": CancelledError,
}
_TOKENIZER = re.compile(r"tokenizer|vocab\.json|merges\.txt")


def error_for(message, argument_hint=False, code=None):
    """The exception for a failed library call with MESSAGE and CODE (the
    library's code name). ARGUMENT_HINT: the call parsed an argument the caller
    gave (a head, a hook name)."""
    if argument_hint:
        return ArgumentError(message)
    cls = _CODE_TABLE.get(code, Error)
    if cls in (ModelFormatError, FileError, ArgumentError) and _TOKENIZER.search(message):
        cls = TokenizerError
    return cls(message)
