"""Reading numbers from URLs and query strings, the one way: ASCII digits only (``"²"`` and
other Unicode digits are not numbers here), bounded length, so ``int()`` never fails."""

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_id(raw, max_digits=9):
    """The positive whole number in ``raw``, or None when it is not one."""
    if raw is None:
        return None
    text = str(raw)
    if len(text) > max_digits or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)
