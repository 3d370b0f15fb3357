"""The exceptions circuitc raises, one class per kind of failure.

Every failure of the C library arrives here as its message (the library's
cc_error) and becomes an instance of one of these classes. The library gives
no error code yet, so the class is read from the message by ``_MESSAGE_TABLE``;
when cc_error gains a code, ``error_for`` maps the code instead (the table of
codes replaces the table of messages, nothing else changes).
"""

import re

__all__ = [
    "Error", "ArgumentError", "ModelFormatError", "FileError", "TokenizerError",
    "NonFiniteError", "OutOfMemoryError",
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


# First match wins; the message's start is the library's "what failed" part.
_MESSAGE_TABLE = [
    (r"^cannot (open|read|write|map|create)\b|: No such file or directory", FileError),
    (r"out of memory", OutOfMemoryError),
    (r"\bNaN\b|\binfinite\b|non-?finite|2\^24", NonFiniteError),
    (r"tokenizer|vocab\.json|merges\.txt", TokenizerError),
    (r"config\.json|safetensors|tensor \"|field \"", ModelFormatError),
    (r"argument \w+ is (NULL|.*, not in)|kept a reference to its activation", ArgumentError),
    # the prompt's ids and answer tokens, named as the CLI's options (cc_prompt_batch_load)
    (r"^--tokens\b|^(answer|wrong) \"", ArgumentError),
]
_MESSAGE_TABLE = [(re.compile(pattern), cls) for pattern, cls in _MESSAGE_TABLE]


def error_for(message, argument_hint=False):
    """The exception for a failed library call with MESSAGE. ARGUMENT_HINT: the
    call parsed an argument the caller gave (a head, a hook name)."""
    if argument_hint:
        return ArgumentError(message)
    for pattern, cls in _MESSAGE_TABLE:
        if pattern.search(message):
            return cls(message)
    return Error(message)
