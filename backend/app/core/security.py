"""Passwords, access tokens, and the key that signs the tokens.

- Passwords are hashed with argon2id (pwdlib over argon2-cffi, with the parameters of
  ``PASSWORD_HASH_PROFILE``: by default the library's recommended ones); a stored hash made
  with other parameters is re-hashed at the next successful sign-in.
- Access tokens are JWTs (PyJWT, HS256) carrying the user id (``sub``), the user's token
  version (``ver``), ``iat`` and ``exp``. They prove who signed in and until when; whether
  that user may still act is checked against the database on every request: the user must
  be active and still at that token version (a password change, disabling and signing out
  everywhere raise it, ending every earlier token).
- The signing key is ``AUTH_SECRET_KEY``. With DATABASE_URL unset (the embedded default)
  and no key set, one is generated once and kept beside the embedded data directory
  (mode 0600). With DATABASE_URL set, the key must be set: the app refuses to start.

Nothing here logs or returns a password, a hash, a token or the key in a message.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import jwt
from argon2 import Parameters, profiles
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr

from app.config import PasswordHashProfile, Settings, get_settings
from app.core.errors import (
    EXIT_USAGE_ERROR,
    AppError,
    ConfigurationError,
    NotAuthenticatedError,
)

logger = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024
"""Longer input is refused before hashing: argon2 work grows with it."""
GENERATED_PASSWORD_BYTES = 18
"""secrets.token_urlsafe(18): 24 characters, 144 bits."""

TOKEN_ALGORITHM = "HS256"
KEY_MIN_LENGTH = 32
KEY_FILE_MODE = 0o600
KEY_HINT = (
    'generate one with `python -c "import secrets; print(secrets.token_urlsafe(48))"` and set '
    "AUTH_SECRET_KEY=<that value> in backend/.env or the environment (keep it secret: anyone "
    "holding it can sign in as any user; changing it signs everyone out)"
)

PASSWORD_HASH_PROFILES: dict[PasswordHashProfile, Parameters] = {
    "RFC_9106_LOW_MEMORY": profiles.RFC_9106_LOW_MEMORY,
    "CHEAPEST": profiles.CHEAPEST,
}
"""argon2-cffi's profiles by the names ``PASSWORD_HASH_PROFILE`` accepts."""


# ---------------------------------------------------------------------- passwords


class WeakPasswordError(AppError, ValueError):
    """A new password that cannot be set (too short or too long)."""

    http_status = 422
    exit_code = EXIT_USAGE_ERROR


def check_new_password(password: str) -> None:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8 text
        raise WeakPasswordError("password is not text: use UTF-8 characters") from None
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError(
            f"password too short: use at least {PASSWORD_MIN_LENGTH} characters"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPasswordError(f"password too long: at most {PASSWORD_MAX_LENGTH} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


@cache
def _password_hash(profile: PasswordHashProfile) -> PasswordHash:
    p = PASSWORD_HASH_PROFILES[profile]
    hasher = Argon2Hasher(
        time_cost=p.time_cost,
        memory_cost=p.memory_cost,
        parallelism=p.parallelism,
        hash_len=p.hash_len,
        salt_len=p.salt_len,
        type=p.type,
    )
    return PasswordHash((hasher,))


def _passwords() -> PasswordHash:
    return _password_hash(get_settings().password_hash_profile)


def hash_password(password: str) -> str:
    """Blocking (argon2 is deliberately slow): call it in a worker thread from async code."""
    check_new_password(password)
    return _passwords().hash(password)


@cache
def _dummy_hash(profile: PasswordHashProfile) -> str:
    return _password_hash(profile).hash(secrets.token_urlsafe(GENERATED_PASSWORD_BYTES))


def prepare_dummy_hash() -> None:
    """Compute the stand-in hash now (app start-up), so the first sign-in with an unknown
    email costs what every other one does."""
    _dummy_hash(get_settings().password_hash_profile)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash to store or None). Blocking: call it in a worker thread.

    ``password_hash`` None (no such user) verifies against a stand-in hash instead, so a
    wrong email costs the same argon2 work as a wrong password and cannot be told apart
    by timing. Over-long passwords are refused without hashing (the cost then depends
    only on the input, never on whether the account exists).
    """
    if len(password) > PASSWORD_MAX_LENGTH:
        return False, None
    try:
        profile = get_settings().password_hash_profile
        if password_hash is None:
            _password_hash(profile).verify(password, _dummy_hash(profile))
            return False, None
        return _password_hash(profile).verify_and_update(password, password_hash)
    except (UnknownHashError, ValueError):  # a corrupt stored hash; unencodable input
        logger.warning("password check failed on a hash pwdlib cannot read")
        return False, None


# ---------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    lifetime: timedelta


@dataclass(frozen=True)
class TokenClaims:
    """Who a valid token names: the user, and the token version it was issued at."""

    user_id: uuid.UUID
    version: int


VERIFIED_TOKENS_KEPT = 4096
"""Tokens whose signature a signer remembers having checked (per process; oldest dropped)."""


@dataclass(frozen=True)
class TokenSigner:
    """Issues and checks access tokens with one key and lifetime (``AUTH_TOKEN_MINUTES``).

    A token whose signature and claims were checked once is remembered with its claims and
    expiry, so a client sending the same token again costs a dictionary lookup instead of an
    HMAC and a JSON parse. The expiry is still enforced on every use (a remembered token is
    refused and forgotten once its ``exp`` has passed), and whether the user may act (active,
    still at the token's version) is still the caller's check against the database on every
    request.
    """

    key: SecretStr
    minutes: int
    _verified: dict[str, tuple[TokenClaims, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def issue(
        self, user_id: uuid.UUID, version: int, *, now: datetime | None = None
    ) -> AccessToken:
        issued = now or datetime.now(UTC)
        lifetime = timedelta(minutes=self.minutes)
        expires = issued + lifetime
        claims = {"sub": str(user_id), "ver": version, "iat": issued, "exp": expires}
        token = jwt.encode(claims, self.key.get_secret_value(), algorithm=TOKEN_ALGORITHM)
        return AccessToken(token, expires, lifetime)

    def verify(self, token: str) -> TokenClaims:
        """What the token says, or NotAuthenticatedError (bad signature, expired, malformed,
        issued before token versions: the reason is in the message, never the token)."""
        known = self._verified.get(token)
        if known is not None:
            claims, expires = known
            if time.time() < expires:
                return claims
            del self._verified[token]
            raise NotAuthenticatedError("token expired: sign in again")
        try:
            decoded = jwt.decode(
                token,
                self.key.get_secret_value(),
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["sub", "ver", "iat", "exp"]},
            )
            version = decoded["ver"]
            if type(version) is not int:  # not a bool, float or string
                raise TypeError("ver")
            claims = TokenClaims(uuid.UUID(str(decoded["sub"])), version)
            expires = float(decoded["exp"])
        except jwt.ExpiredSignatureError:
            raise NotAuthenticatedError("token expired: sign in again") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise NotAuthenticatedError("invalid token: sign in again") from None
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, expires)
        return claims


# ---------------------------------------------------------------------- the key


class SigningKeyError(ConfigurationError):
    """AUTH_SECRET_KEY is missing (where it is required) or unusable."""


def embedded_key_file(pgdata: Path) -> Path:
    """Where the embedded default keeps its generated key: beside its data directory."""
    pgdata = pgdata.expanduser().resolve()
    return pgdata.with_name(f"{pgdata.name}.auth_secret_key")


def signing_key_source(settings: Settings, *, embedded: bool) -> SecretStr | Path:
    """The configured key, or (embedded default, no key set) the file that holds or will
    hold the generated one. Reads nothing from disk and writes nothing."""
    if settings.auth_secret_key is not None:
        if len(settings.auth_secret_key.get_secret_value()) < KEY_MIN_LENGTH:
            raise SigningKeyError(
                f"AUTH_SECRET_KEY is too short (at least {KEY_MIN_LENGTH} characters): {KEY_HINT}"
            )
        return settings.auth_secret_key
    if embedded:
        return embedded_key_file(settings.embedded_pgdata)
    raise SigningKeyError(
        "AUTH_SECRET_KEY is not set; it signs sign-in tokens and is required when "
        f"DATABASE_URL is set: {KEY_HINT}"
    )


def load_signing_key(source: SecretStr | Path) -> SecretStr:
    """The key itself: as configured, or read from its file, generated on first use."""
    if isinstance(source, SecretStr):
        return source
    if not source.exists():
        _create_key_file(source)
    mode = stat.S_IMODE(source.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o); set to 0600", source, mode)
        source.chmod(KEY_FILE_MODE)
    key = source.read_text(encoding="utf-8").strip()
    if len(key) < KEY_MIN_LENGTH:
        raise SigningKeyError(f"{source} does not hold a usable key: delete it to get a new one")
    return SecretStr(key)


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` atomically: written in full to a private temporary file,
    then linked into place, so a concurrent start-up either wins or reads the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
            logger.info("generated the token signing key in %s", path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)
