"""Password hashing, access tokens and where the signing key comes from."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from argon2 import extract_parameters, profiles
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr

from app.config import Settings, get_settings
from app.core import security
from app.core.cli import describe_failure
from app.core.errors import ConfigurationError, NotAuthenticatedError
from app.core.redaction import secrets_of
from app.core.security import (
    PASSWORD_MAX_LENGTH,
    SigningKeyError,
    TokenClaims,
    TokenSigner,
    WeakPasswordError,
    embedded_key_file,
    hash_password,
    load_signing_key,
    signing_key_source,
    verify_password,
)

KEY = "k" * 40
SIGNER = TokenSigner(SecretStr(KEY), minutes=60)


def test_a_password_verifies_against_its_hash_and_nothing_else() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password("correct horse battery", stored) == (True, None)
    assert verify_password("correct horse batterY", stored) == (False, None)
    assert verify_password("correct horse battery", None) == (False, None)  # unknown user
    assert verify_password("x" * (PASSWORD_MAX_LENGTH + 1), stored) == (False, None)
    assert verify_password("correct horse battery", "not a hash") == (False, None)


@pytest.fixture
def production_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PASSWORD_HASH_PROFILE unset, as in production (the tests' conftest sets CHEAPEST)."""
    monkeypatch.delenv("PASSWORD_HASH_PROFILE")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_tests_hash_with_the_cheapest_profile() -> None:
    assert extract_parameters(hash_password("correct horse")) == profiles.CHEAPEST


@pytest.mark.usefixtures("production_profile")
def test_by_default_hashes_use_argon2s_recommended_parameters_and_replace_weaker_ones() -> None:
    assert get_settings().password_hash_profile == "RFC_9106_LOW_MEMORY"
    old = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),)).hash("correct horse")
    matches, new_hash = verify_password("correct horse", old)
    assert matches and new_hash is not None and new_hash != old
    # argon2-cffi's recommendation: RFC 9106's low-memory choice (64 MiB, 3 passes, 4 lanes).
    assert extract_parameters(new_hash) == profiles.get_default_parameters()
    assert extract_parameters(new_hash) == profiles.RFC_9106_LOW_MEMORY
    assert verify_password("correct horse", new_hash) == (True, None)


@pytest.mark.parametrize(
    "password",
    ["7-chars", "x" * (PASSWORD_MAX_LENGTH + 1), "long enough but \udcff not text"],
    ids=["too short", "too long", "undecodable bytes"],
)
def test_new_passwords_are_bounded_in_length_and_text(password: str) -> None:
    with pytest.raises(WeakPasswordError) as raised:
        hash_password(password)
    assert password not in str(raised.value)


def test_a_token_names_its_user_until_it_expires() -> None:
    user_id = uuid.uuid4()
    issued = SIGNER.issue(user_id, 7)
    assert SIGNER.verify(issued.token) == TokenClaims(user_id, 7)
    assert issued.lifetime == timedelta(minutes=60)
    claims = jwt.decode(issued.token, KEY, algorithms=["HS256"])
    assert claims["sub"] == str(user_id)
    assert claims["ver"] == 7
    assert claims["exp"] - claims["iat"] == 3600


def test_a_remembered_token_is_still_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = TokenSigner(SecretStr(KEY), 60)
    user_id = uuid.uuid4()
    issued = signer.issue(user_id, 0)
    assert signer.verify(issued.token).user_id == user_id  # checked, and remembered
    assert signer.verify(issued.token).user_id == user_id
    expires = issued.expires_at.timestamp()
    monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: expires + 1))
    with pytest.raises(NotAuthenticatedError, match="token expired"):
        signer.verify(issued.token)


def test_a_remembered_token_does_not_vouch_for_another_key() -> None:
    token = SIGNER.issue(uuid.uuid4(), 0).token
    SIGNER.verify(token)
    with pytest.raises(NotAuthenticatedError, match="invalid token"):
        TokenSigner(SecretStr("o" * 40), 60).verify(token)


def _forged(claims: dict[str, object], key: str = KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


NOW = datetime.now(UTC)
# {"alg": "none"} with no signature: must never be accepted.
UNSIGNED = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (SIGNER.issue(uuid.uuid4(), 0, now=NOW - timedelta(minutes=61)).token, "token expired"),
        (TokenSigner(SecretStr("o" * 40), 60).issue(uuid.uuid4(), 0).token, "invalid token"),
        ("not.a.jwt", "invalid token"),
        ("", "invalid token"),
        (UNSIGNED, "invalid token"),
        (_forged({"iat": NOW, "exp": NOW + timedelta(hours=1)}), "invalid token"),
        (_forged({"sub": "admin", "iat": NOW, "exp": NOW + timedelta(hours=1)}), "invalid token"),
        (_forged({"sub": str(uuid.uuid4()), "exp": NOW + timedelta(hours=1)}), "invalid token"),
        (
            _forged({"sub": str(uuid.uuid4()), "iat": NOW, "exp": NOW + timedelta(hours=1)}),
            "invalid token",
        ),
        (
            _forged(
                {"sub": str(uuid.uuid4()), "ver": "0", "iat": NOW, "exp": NOW + timedelta(hours=1)}
            ),
            "invalid token",
        ),
    ],
    ids=[
        "expired",
        "other key",
        "garbage",
        "empty",
        "alg none",
        "no sub",
        "sub not a uuid",
        "no iat",
        "no ver (issued before token versions)",
        "ver not an integer",
    ],
)
def test_a_token_that_is_not_ours_or_not_current_is_refused(token: str, message: str) -> None:
    with pytest.raises(NotAuthenticatedError) as raised:
        SIGNER.verify(token)
    assert str(raised.value).startswith(message)
    assert raised.value.http_headers() == {"WWW-Authenticate": "Bearer"}
    if token:
        assert token not in str(raised.value)


def _settings(**values: str) -> Settings:
    return Settings.model_validate({"DATABASE_URL": "", "AUTH_SECRET_KEY": "", **values})


def test_the_key_comes_from_auth_secret_key_when_set() -> None:
    source = signing_key_source(_settings(AUTH_SECRET_KEY=KEY), embedded=False)
    assert isinstance(source, SecretStr) and load_signing_key(source).get_secret_value() == KEY


def test_a_short_key_is_refused_without_showing_it() -> None:
    with pytest.raises(SigningKeyError) as raised:
        signing_key_source(_settings(AUTH_SECRET_KEY="tooshort-secret"), embedded=False)
    assert "at least 32 characters" in str(raised.value)
    assert "tooshort-secret" not in str(raised.value)


def test_without_a_key_a_configured_database_refuses_with_how_to_set_one() -> None:
    with pytest.raises(SigningKeyError) as raised:
        signing_key_source(_settings(), embedded=False)
    message = str(raised.value)
    assert message.startswith("AUTH_SECRET_KEY is not set")
    assert "secrets.token_urlsafe" in message and "backend/.env" in message


def test_the_embedded_default_generates_a_private_key_once(tmp_path: Path) -> None:
    pgdata = tmp_path / ".pgdata" / "main"
    source = signing_key_source(_settings(EMBEDDED_PGDATA=str(pgdata)), embedded=True)
    assert source == tmp_path / ".pgdata" / "main.auth_secret_key"
    assert isinstance(source, Path) and not source.exists()  # nothing written yet

    key = load_signing_key(source)
    assert len(key.get_secret_value()) >= 32
    assert stat.S_IMODE(source.stat().st_mode) == 0o600
    assert load_signing_key(source) == key
    assert list(source.parent.iterdir()) == [source]  # no temporary file left


def test_a_key_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = embedded_key_file(tmp_path / "main")
    path.write_text("s" * 64 + "\n")
    path.chmod(0o644)
    assert load_signing_key(path).get_secret_value() == "s" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_processes_starting_together_end_up_with_one_key(tmp_path: Path) -> None:
    path = embedded_key_file(tmp_path / "main")
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_signing_key(path).get_secret_value(), range(16)))
    assert len(set(keys)) == 1
    assert path.read_text().strip() == keys[0]


def test_the_key_is_masked_in_any_message_a_script_prints() -> None:
    secrets = secrets_of(_settings(AUTH_SECRET_KEY=KEY))
    assert KEY in secrets
    message, code = describe_failure(ConfigurationError(f"cannot use {KEY} here"), secrets)
    assert KEY not in message and code == 2
