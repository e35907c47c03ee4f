"""Password hashing and the password rules.

Hashes are bcrypt, stored as bytes in ``flicket_users.password`` exactly as Flicket stored
them, so exported users move between the two systems. bcrypt reads at most 72 bytes (and
bcrypt 5 refuses more); a longer password is first reduced to the base64 of its SHA-256
digest, so every byte of a long passphrase counts and nothing raises.
"""

import base64
import hashlib
import re
import unicodedata
from functools import cache
from importlib import resources

import bcrypt

from flicket.i18n import _

BCRYPT_MAX_BYTES = 72
#: Longer input is refused before any hashing: no one types more, and hashing it is work.
MAX_PASSWORD_LENGTH = 1024
MAX_PASSWORD_BYTES = 4096


def _bcrypt_input(password):
    data = password.encode("utf-8")
    if len(data) > BCRYPT_MAX_BYTES:
        data = base64.b64encode(hashlib.sha256(data).digest())
    return data


def hash_password(password, rounds=12):
    return bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(rounds))


def verify_password(password, hashed):
    """True when ``password`` matches ``hashed``; never raises on odd input."""
    if not password or not hashed or not isinstance(password, str):
        return False
    if isinstance(hashed, str):
        hashed = hashed.encode("ascii", "ignore")
    try:
        # Inside the try: a lone surrogate makes encode() raise UnicodeEncodeError.
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            return False
        return bcrypt.checkpw(_bcrypt_input(password), bytes(hashed))
    except (ValueError, TypeError):
        return False


@cache
def _dummy_hash(rounds):
    return hash_password("not a password of anyone", rounds)


def burn_verification_time(rounds=12):
    """Spend the time of one bcrypt check, so an unknown account answers as slowly."""
    bcrypt.checkpw(b"not the password", _dummy_hash(rounds))


@cache
def common_passwords():
    path = resources.files("flicket").joinpath("data/common-passwords.txt")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    # Normalised exactly as is_common() normalises the password it compares.
    return frozenset(_normalise(line) for line in lines if line and not line.startswith("#"))


_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")


def _is_sequence(text):
    if len(set(text)) <= 2:
        return True
    for row in _KEYBOARD_ROWS:
        for source in (row, row[::-1]):
            if text in (source * (len(text) // len(source) + 2)):
                return True
    return False


def _normalise(password):
    return unicodedata.normalize("NFKC", password).casefold()


def is_common(password, context_words=()):
    """True for a well-known password, a keyboard run, or a variation of a context word."""
    text = _normalise(password)
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", text)
    compact = re.sub(r"[\W_]+", "", text)
    candidates = {text, core, compact}
    if candidates & common_passwords():
        return True
    # A password of symbols or emoji only has an empty ``compact``: judge it without spaces.
    if _is_sequence(compact or re.sub(r"\s+", "", text)) or (core and _is_sequence(core)):
        return True
    # On ``compact`` too: stripping the ends of "summer2024summer2024" hides its repetition.
    for part in (core, compact):
        repeat = re.fullmatch(r"(.+?)\1+", part) if len(part) >= 3 else None
        if repeat and (repeat.group(1) in common_passwords() or len(repeat.group(1)) <= 4):
            return True
    for word in context_words:
        word = _normalise(word or "")
        if len(word) >= 3 and (word in text) and len(text) - len(word) < 8:
            return True
    return False


def password_problems(password, min_length=12, context_words=()):
    """The reasons ``password`` may not be chosen (an empty list when it is fine), as
    messages to translate (``flicket.i18n.translate``; ``english`` for logs and the API).

    No composition rules: length and commonness are what make a password strong.
    """
    problems = []
    if len(password) < min_length:
        problems.append(
            _("Use at least ${min_length} characters.", mapping={"min_length": min_length})
        )
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.append(
            _("Use at most ${max_length} characters.", mapping={"max_length": MAX_PASSWORD_LENGTH})
        )
    elif is_common(password, ("flicket", *context_words)):
        problems.append(
            _(
                "This password is too common or too easy to guess "
                "(it is a well-known password, a keyboard run, or made of your name)."
            )
        )
    return problems
