"""Unit tests for flicket.accounts.passwords: hashing, verification and the password rules."""

import bcrypt
import pytest

from flicket.accounts.passwords import (
    BCRYPT_MAX_BYTES,
    MAX_PASSWORD_BYTES,
    MAX_PASSWORD_LENGTH,
    burn_verification_time,
    common_passwords,
    hash_password,
    is_common,
    password_problems,
    verify_password,
)
from flicket.i18n import english

ROUNDS = 4  # the bcrypt minimum: these tests check behaviour, not cost


# --- hashing and verification ------------------------------------------------------------


def test_hash_and_verify_round_trip():
    hashed = hash_password("tangerine-ocelot-77", rounds=ROUNDS)
    assert isinstance(hashed, bytes)
    assert hashed.startswith(b"$2b$04$")
    assert verify_password("tangerine-ocelot-77", hashed)


def test_wrong_password_fails():
    hashed = hash_password("tangerine-ocelot-77", rounds=ROUNDS)
    assert not verify_password("tangerine-ocelot-78", hashed)
    assert not verify_password("Tangerine-ocelot-77", hashed)
    assert not verify_password("tangerine-ocelot-7", hashed)


def test_each_hash_is_salted():
    first = hash_password("the same password", rounds=ROUNDS)
    second = hash_password("the same password", rounds=ROUNDS)
    assert first != second
    assert verify_password("the same password", first)
    assert verify_password("the same password", second)


def test_str_hash_from_a_text_column_verifies():
    hashed = hash_password("tangerine-ocelot-77", rounds=ROUNDS)
    assert verify_password("tangerine-ocelot-77", hashed.decode("ascii"))
    assert verify_password("tangerine-ocelot-77", memoryview(hashed))


def test_emoji_password_of_256_bytes_verifies_exactly():
    emoji = "😀🐍🎉🌈🍕🚀🎸🦄"
    password = (emoji * 8)[:64]
    assert len(password) == 64
    assert len(password.encode("utf-8")) == 256
    hashed = hash_password(password, rounds=ROUNDS)
    assert verify_password(password, hashed)
    assert not verify_password(password[:-1], hashed)
    assert not verify_password(password[:-1] + "😀", hashed)


@pytest.mark.parametrize("size", [73, 100, 5000])
def test_long_passwords_never_raise(size):
    password = ("x" * (size - 1)) + "!"
    assert len(password.encode("utf-8")) == size
    hashed = hash_password(password, rounds=ROUNDS)
    assert not verify_password("y" + password[1:], hashed)
    assert not verify_password(password[:-1], hashed)
    # Over MAX_PASSWORD_BYTES verification refuses outright, even the right password.
    assert verify_password(password, hashed) is (size <= MAX_PASSWORD_BYTES)


def test_bytes_beyond_72_count():
    common_start = "a" * BCRYPT_MAX_BYTES
    first, second = common_start + "b" * 28, common_start + "c" * 28
    assert len(first.encode()) == len(second.encode()) == 100
    hashed = hash_password(first, rounds=ROUNDS)
    assert verify_password(first, hashed)
    assert not verify_password(second, hashed)


def test_verify_exactly_at_the_byte_limit():
    password = "é" * (MAX_PASSWORD_BYTES // 2)
    assert len(password.encode("utf-8")) == MAX_PASSWORD_BYTES
    hashed = hash_password(password, rounds=ROUNDS)
    assert verify_password(password, hashed)
    assert not verify_password(password + "é", hashed)


@pytest.mark.parametrize(
    "hashed",
    [
        None,
        b"",
        "",
        b"garbage",
        "not a bcrypt hash",
        b"$2b$04$tooshort",
        b"$2b$04$" + b"!" * 53,
        "$2b$04$ñ" + "a" * 52,
        b"\x00\xff" * 30,
    ],
)
def test_verify_with_a_bad_hash_returns_false(hashed):
    assert verify_password("tangerine-ocelot-77", hashed) is False


@pytest.mark.parametrize("password", [None, "", b"bytes are not a password", "\ud800lone"])
def test_verify_with_a_bad_password_returns_false(password):
    hashed = hash_password("tangerine-ocelot-77", rounds=ROUNDS)
    assert verify_password(password, hashed) is False


def test_hash_stored_by_the_original_flicket_verifies():
    """Flicket stored bcrypt.hashpw(password.encode(), salt) as bytes: it must still verify."""
    password = "Sunny-Day-42"
    legacy = bcrypt.hashpw(password.encode(), bcrypt.gensalt(ROUNDS))
    assert verify_password(password, legacy)
    assert verify_password(password, legacy.decode("ascii"))
    assert not verify_password("sunny-day-42", legacy)


def test_hash_of_a_short_password_is_plain_bcrypt():
    """Up to 72 bytes the stored hash is what plain bcrypt checks, so it can be exported."""
    hashed = hash_password("Sunny-Day-42", rounds=ROUNDS)
    assert bcrypt.checkpw(b"Sunny-Day-42", hashed)


def test_burn_verification_time_runs():
    assert burn_verification_time(rounds=ROUNDS) is None


# --- password rules ----------------------------------------------------------------------


def test_too_short():
    problems = english(password_problems("short"))
    assert len(problems) == 1
    assert "at least 12" in problems[0]


def test_min_length_is_configurable():
    assert password_problems("tangerine-ocelot", min_length=20)
    assert password_problems("tangerine-ocelot", min_length=16) == []


@pytest.mark.parametrize(
    "password",
    [
        "password123456",
        "qwertyuiop123",
        "flicketflicket",
        "aaaaaaaaaaaaaa",
        "iloveyou1234",
        "123456789012",
        "PASSWORD123456",
        "ｐａｓｓｗｏｒｄ１２３４５６",  # full-width letters: NFKC makes this password123456
        "!!Password2024!!",
        "summer2024summer2024",
        "abcabcabcabc",
        "helpdesk-2024!",
    ],
)
def test_common_passwords_are_refused(password):
    problems = english(password_problems(password))
    assert len(problems) == 1
    assert "too common" in problems[0]


def test_username_variation_is_refused():
    assert password_problems("bobbytables2024", context_words=["bobbytables"])
    assert password_problems("BobbyTables!!", context_words=["bobbytables"])
    # The same password is fine for someone whose name it is not.
    assert password_problems("bobbytables2024", context_words=["alice"]) == []


def test_short_context_words_are_ignored():
    assert password_problems("tangerine-ocelot-77", context_words=["oc", "", None]) == []


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "tangerine-ocelot-77",
        "purple walrus dances",
        "crème brûlée à la façon de grand-mère",
        "Übergrößenträger mögen Äpfel",
        "🔥🐍🎉🌈🍕🚀🎸🦄🌵🍩🐙⚡🎲🧩",
    ],
)
def test_good_passphrases_need_no_composition_rules(password):
    assert password_problems(password) == []


def test_too_long():
    problems = password_problems("a random passphrase " * 60)
    assert len("a random passphrase " * 60) > MAX_PASSWORD_LENGTH
    assert problems
    assert english(password_problems("x" * (MAX_PASSWORD_LENGTH + 1))) == [
        f"Use at most {MAX_PASSWORD_LENGTH} characters."
    ]


def test_keyboard_runs_are_common():
    assert is_common("asdfghjklasdf")
    assert is_common("0987654321")
    assert is_common("zyxwvutsrqpo")
    assert not is_common("tangerine-ocelot-77")


# --- the list ----------------------------------------------------------------------------


def test_common_password_list_is_large_and_normalised():
    words = common_passwords()
    assert len(words) >= 3000
    assert {"123456", "password", "qwerty", "iloveyou", "letmein", "flicket"} <= words
    assert all(word == word.strip().casefold() and word for word in words)
    assert not any(word.startswith("#") for word in words)
