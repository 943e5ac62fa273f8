"""Every setting of Maestro Web, read from the environment in one place.

`load_settings()` turns the environment (plus optional overrides from tests) into the dict that
becomes `app.config`. Secrets follow the switch-token table of SPEC §3: one secret per trust
boundary, checked hard in production, generated once into the instance folder in development.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from limits import parse_many

from maestro_web.keyring import KeyRing

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "production", "testing")
MIN_SECRET_LENGTH = 32
# A typed placeholder ("aaaa...", "changemechangeme...") has few different characters; a random
# secret of 32+ characters has many. Hexadecimal secrets (`openssl rand -hex 32`) have an alphabet
# of 16, so about one in four would show fewer than 16 of them: they need MIN_DISTINCT_HEX instead.
MIN_DISTINCT_CHARACTERS = 16
MIN_DISTINCT_HEX = 8
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
GENERATE_HINT = "generate one with `flask keys generate`"

# Values shipped as defaults by Maestro Server and by tutorials; never acceptable in production.
KNOWN_DEFAULT_SECRETS = frozenset(
    value.lower()
    for value in {
        "defaultSecretKey",
        "defaultSecretKeyPrivate",
        "defaultSecretKeyPublic",
        "defaultSecretKeyAnalytics",
        "dsfsdfsd43",
        "wsSecretKey",
        "changeme",
        "change-me",
        "secret",
        "dev",
        "development",
        "super-secret",
    }
)


class ConfigError(RuntimeError):
    """The configuration is unusable; the message is one line naming the variable."""


@dataclass(frozen=True)
class SecretSpec:
    context: str  # the name used by `flask keys rotate <context>` and in KeyRing.context
    env: str  # the environment variable holding the secret (never the deployment environment)
    aliases: tuple[str, ...] = ()


# The switch-token table (SPEC §3). The order is the order of the table.
SECRET_SPECS: tuple[SecretSpec, ...] = (
    SecretSpec("session", "MAESTRO_SECRETJWT"),
    SecretSpec("public-analytics", "MAESTRO_SECRETJWT_PUBLIC_ANALYTICS", ("MAESTRO_SECRETJWT_PUBLIC",)),
    SecretSpec("analytics", "MAESTRO_SECRETJWT_ANALYTICS", ("MAESTRO_SECRETJWT_PRIVATE",)),
    SecretSpec("crypto-forgot", "MAESTRO_SECRET_CRYPTO_FORGOT"),
    SecretSpec("forgot", "MAESTRO_SECRETJWT_FORGOT"),
    SecretSpec("socket", "MAESTRO_SECRETJWT_SOCKET", ("MAESTRO_WEBSOCKET_SECRET",)),
    SecretSpec("flask", "FLASK_SECRET_KEY"),
)
SECRET_SPECS_BY_CONTEXT = {spec.context: spec for spec in SECRET_SPECS}

GENERATED_SECRETS_FILE = "secrets.json"

# The refresh cookie is sent to this path only: the silent renewal and logout live under it
# (maestro_web/auth/routes.py), every other page sees the access cookie alone.
REFRESH_COOKIE_PATH = "/auth/session"


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit in the limits syntax ("20 per minute", "5/second;100/hour"); empty means the default."""
    return environ.get(name, "").strip() or default


def _check_rate_limits(settings: Mapping[str, Any]) -> None:
    """Parse every *_RATE_LIMIT setting now, so that a value the limiter cannot read stops the start.

    Flask-Limiter parses a limit only when a request is checked against it, and a value it cannot
    parse is skipped with a log line: the limit is silently gone. Checked by name, so a limit added
    later is checked without being listed here.
    """
    for name, value in settings.items():
        if not name.endswith("_RATE_LIMIT"):
            continue
        try:
            parse_many(str(value))
        except ValueError:
            raise ConfigError(
                f'{name} is not a rate limit, got {value!r}; write e.g. "20 per minute" or "5/second;100/hour"'
            ) from None


def weakness(secret: str) -> str | None:
    """Why a secret is too weak for production, or None: the rules a typed placeholder breaks.

    Too short, a known default, too few different characters, or one short pattern repeated. These
    catch what a person types instead of a secret; they cannot prove a value random.
    """
    if secret.lower() in KNOWN_DEFAULT_SECRETS:
        return "is a known default value"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is too short ({len(secret)} characters, at least {MIN_SECRET_LENGTH})"
    distinct = len(set(secret))
    needed = MIN_DISTINCT_HEX if set(secret) <= HEX_DIGITS else MIN_DISTINCT_CHARACTERS
    if distinct < needed:
        return f"has too little variety ({distinct} different characters, at least {needed})"
    period = _repeat_period(secret)
    if period is not None:
        return f"repeats a pattern of {period} characters"
    return None


def _repeat_period(value: str) -> int | None:
    """The length of the shortest unit that, repeated at least twice, makes up value (the last
    repeat may be cut short), or None. Linear time: the longest border of the prefix function."""
    border = [0] * len(value)
    for index in range(1, len(value)):
        length = border[index - 1]
        while length and value[index] != value[length]:
            length = border[length - 1]
        border[index] = length + 1 if value[index] == value[length] else 0
    period = len(value) - border[-1] if value else 0
    return period if value and 2 * period <= len(value) else None


def _read_secret(environ: Mapping[str, str], spec: SecretSpec) -> tuple[str | None, str]:
    """Return (value, variable it came from) for one context, honouring the aliases."""
    for name in (spec.env, *spec.aliases):
        value = environ.get(name)
        if value:
            return value, name
    return None, spec.env


def _read_previous(environ: Mapping[str, str], spec: SecretSpec) -> tuple[str, ...]:
    values: list[str] = []
    for name in (spec.env, *spec.aliases):
        raw = environ.get(f"{name}_PREVIOUS", "")
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return tuple(dict.fromkeys(values))


def _generated_secrets(instance_path: Path) -> dict[str, str]:
    path = instance_path / GENERATED_SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    return {}


def _store_generated_secrets(instance_path: Path, values: dict[str, str]) -> Path:
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / GENERATED_SECRETS_FILE
    # Create with 0600 from the start so the secrets are never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=2, sort_keys=True)
    os.chmod(path, 0o600)
    return path


def _refuse_weak_secrets(environ: Mapping[str, str], found: Mapping[str, tuple[str | None, str]]) -> None:
    """Production rules for every key a context accepts, its `_PREVIOUS` values included.

    A previous key verifies tokens just as the current one does, so it obeys the same rules: long
    enough, not a known default, and different from every other current or previous key.
    """
    keys: list[tuple[str, str]] = []  # (key, variable it came from): every current one, then the previous
    for spec in SECRET_SPECS:
        value, name = found[spec.context]
        if not value:
            raise ConfigError(f"{spec.env} is not set; production needs its own secret for it, {GENERATE_HINT}")
        keys.append((value, name))
    for spec in SECRET_SPECS:
        keys.extend((old, f"{found[spec.context][1]}_PREVIOUS") for old in _read_previous(environ, spec))
    seen: dict[str, str] = {}
    for key, variable in keys:
        reason = weakness(key)
        if reason:
            raise ConfigError(f"{variable} {reason}; {GENERATE_HINT}")
        if key in seen:
            raise ConfigError(f"{variable} is equal to {seen[key]}; every secret must differ, {GENERATE_HINT}")
        seen[key] = variable


def load_key_rings(environ: Mapping[str, str], environment: str, instance_path: Path) -> dict[str, KeyRing]:
    """Read the seven secrets; refuse bad ones in production, generate missing ones otherwise."""
    found: dict[str, tuple[str | None, str]] = {spec.context: _read_secret(environ, spec) for spec in SECRET_SPECS}

    # Values `flask keys rotate` replaced in the generated file: verification only, like _PREVIOUS.
    generated_previous: dict[str, tuple[str, ...]] = {}
    if environment == "production":
        _refuse_weak_secrets(environ, found)
    elif environment == "testing":
        # Tests get fresh random secrets for every app, never written anywhere.
        for spec in SECRET_SPECS:
            if not found[spec.context][0]:
                found[spec.context] = (pysecrets.token_urlsafe(48), spec.env)
    else:
        generated = _generated_secrets(instance_path)
        missing = [spec for spec in SECRET_SPECS if not found[spec.context][0]]
        new = [spec.env for spec in missing if spec.env not in generated]
        for spec in missing:
            generated.setdefault(spec.env, pysecrets.token_urlsafe(48))
            found[spec.context] = (generated[spec.env], spec.env)
            old = generated.get(f"{spec.env}_PREVIOUS", "")
            generated_previous[spec.context] = tuple(part for part in old.split(",") if part)
        if new:
            path = _store_generated_secrets(instance_path, generated)
            log.warning("Generated development secrets for %s in %s", ", ".join(new), path)

    return {
        spec.context: KeyRing(
            context=spec.context,
            current=found[spec.context][0] or "",
            previous=tuple(dict.fromkeys((*_read_previous(environ, spec), *generated_previous.get(spec.context, ())))),
        )
        for spec in SECRET_SPECS
    }


def load_discovery_keys(environ: Mapping[str, str], environment: str, instance_path: Path) -> dict[str, Any]:
    """The discovery service's X25519 key pair (SPEC §3 "provider credentials", §11).

    The app needs only the public key (it seals); only the discovery service uses the private key and
    its `_PREVIOUS` values (it opens). In development a missing pair is generated once into the
    instance folder's secrets file, like the other secrets; in testing a fresh pair per app. In
    production nothing is generated: `flask discovery serve` refuses to start without a private key
    (maestro_web/discovery/settings.py), and without a public key the app refuses to store credentials.
    """
    from maestro_web.discovery.sealing import generate_key_pair, public_key_of

    public = environ.get("MAESTRO_DISCOVERY_PUBLIC_KEY", "").strip()
    private = environ.get("MAESTRO_DISCOVERY_PRIVATE_KEY", "").strip()
    previous = [
        part.strip() for part in environ.get("MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS", "").split(",") if part.strip()
    ]
    if not public and not private and environment == "testing":
        private, public = generate_key_pair()
    elif not public and not private and environment == "development":
        generated = _generated_secrets(instance_path)
        if "MAESTRO_DISCOVERY_PRIVATE_KEY" not in generated:
            generated["MAESTRO_DISCOVERY_PRIVATE_KEY"], generated["MAESTRO_DISCOVERY_PUBLIC_KEY"] = generate_key_pair()
            path = _store_generated_secrets(instance_path, generated)
            log.warning("Generated the development discovery key pair in %s", path)
        private = generated["MAESTRO_DISCOVERY_PRIVATE_KEY"]
        public = generated.get("MAESTRO_DISCOVERY_PUBLIC_KEY") or public_key_of(private)
    from maestro_web.discovery.sealing import SealingError, load_public_key

    try:
        if private and not public:
            public = public_key_of(private)
    except (SealingError, ValueError):
        raise ConfigError("MAESTRO_DISCOVERY_PRIVATE_KEY is not an X25519 private key (32 bytes, base64url)") from None
    try:
        if public:
            load_public_key(public)
    except (SealingError, ValueError):
        raise ConfigError("MAESTRO_DISCOVERY_PUBLIC_KEY is not an X25519 public key (32 bytes, base64url)") from None
    return {
        "MAESTRO_DISCOVERY_PUBLIC_KEY": public or None,
        "MAESTRO_DISCOVERY_PRIVATE_KEY": private or None,
        "MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS": previous,
    }


def _database_url(environ: Mapping[str, str], instance_path: Path) -> str:
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path / 'maestro.db'}"
    # Heroku-style URLs and the plain driver name both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _live_publish_url(live_url: str) -> str:
    """The publish endpoint derived from MAESTRO_LIVE_URL: same host and port, path /publish."""
    parts = urlsplit(live_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/publish", "", ""))


def _origins(raw: str) -> list[str]:
    """A comma list of origins, each reduced to scheme://host[:port] without a trailing slash."""
    origins = []
    for part in raw.split(","):
        parts = urlsplit(part.strip())
        if parts.scheme and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def _log_format(environ: Mapping[str, str], environment: str) -> str:
    """MAESTRO_LOG_FORMAT: `json` (one object a line, for a log shipper) is production's default,
    `text` development's and the tests'; anything else stops the start with the variable named."""
    from maestro_web.logs import LOG_FORMATS

    value = environ.get("MAESTRO_LOG_FORMAT", "").strip().lower()
    if not value:
        return "json" if environment == "production" else "text"
    if value not in LOG_FORMATS:
        raise ConfigError(f"MAESTRO_LOG_FORMAT must be text or json, got {value!r}")
    return value


def _metrics_allow(environ: Mapping[str, str]) -> list[str]:
    """MAESTRO_METRICS_ALLOW: who may read /metrics by address (loopback when unset; `none`: nobody)."""
    from maestro_web.metrics import parse_allow

    try:
        return list(parse_allow(environ.get("MAESTRO_METRICS_ALLOW")))
    except ValueError as exc:
        raise ConfigError(
            f"MAESTRO_METRICS_ALLOW: {exc}; write addresses or networks, comma-separated, or none"
        ) from None


def _metrics_token(environ: Mapping[str, str], production: bool, key_rings: Mapping[str, KeyRing]) -> str | None:
    """MAESTRO_METRICS_TOKEN: a scraper's bearer token, accepted from any address. A secret like the others:
    in production at least 32 characters and none of the app's secrets."""
    token = environ.get("MAESTRO_METRICS_TOKEN", "").strip() or None
    if token is None or not production:
        return token
    if len(token) < 32:
        raise ConfigError(
            "MAESTRO_METRICS_TOKEN is shorter than 32 characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if any(token in ring.secrets for ring in key_rings.values()):
        raise ConfigError("MAESTRO_METRICS_TOKEN is equal to another secret; every secret must differ")
    return token


def load_settings(
    environ: Mapping[str, str], instance_path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build the app.config dict from the environment; overrides (tests) win over everything."""
    overrides = dict(overrides or {})
    # The deployment environment (MAESTRO_ENV); `environ` is the process environment it is read from.
    environment = overrides.get("MAESTRO_ENV") or environ.get("MAESTRO_ENV", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"MAESTRO_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    production = environment == "production"
    instance = Path(instance_path)
    # Production serves https only, so its cookies are Secure and carry the prefixes browsers enforce:
    # __Host- (Secure, Path=/, no Domain: no subdomain can set or shadow it) and, for the refresh
    # cookie whose path is not /, __Secure-. Development and tests over http://127.0.0.1 keep the
    # plain names: browsers refuse a prefixed cookie without Secure, and Secure needs https.
    host_prefix, secure_prefix = ("__Host-", "__Secure-") if production else ("", "")

    base_url = environ.get("MAESTRO_BASE_URL", "").rstrip("/")
    if not base_url:
        if production:
            raise ConfigError("MAESTRO_BASE_URL is not set; production needs the public address")
        base_url = "http://127.0.0.1:5000"

    if "KEY_RINGS" in overrides:
        key_rings = overrides.pop("KEY_RINGS")
    else:
        key_rings = load_key_rings(environ, environment, instance)

    access_ttl = _int(environ, "MAESTRO_ACCESS_TOKEN_TTL", 15 * 60, minimum=30)
    refresh_ttl = _int(environ, "MAESTRO_REFRESH_TOKEN_TTL", 24 * 3600, minimum=60)
    redis_url = environ.get("REDIS_URL", "").strip()
    if production and not redis_url:
        # Rate limits and live events counted per process would multiply every limit by the workers.
        raise ConfigError("REDIS_URL is not set; production shares rate limits and live events through Redis")
    live_url = environ.get("MAESTRO_LIVE_URL", "").strip() or "ws://127.0.0.1:5001/live"
    mail_tls = _bool(environ, "MAIL_USE_TLS", False)
    mail_ssl = _bool(environ, "MAIL_USE_SSL", False)
    if mail_tls and mail_ssl:
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL are both set; choose one (STARTTLS or implicit TLS)")

    settings: dict[str, Any] = {
        "MAESTRO_ENV": environment,
        "TESTING": environment == "testing",
        "DEBUG": False,
        "SECRET_KEY": key_rings["flask"].current,
        # Flask (3.1+) still accepts session cookies signed with these: FLASK_SECRET_KEY rotates too.
        "SECRET_KEY_FALLBACKS": list(key_rings["flask"].previous),
        "KEY_RINGS": key_rings,
        "MAESTRO_BASE_URL": base_url,
        "MAESTRO_ANALYTICS_URL": environ.get("MAESTRO_ANALYTICS_URL", "").rstrip("/") or f"{base_url}/analytics",
        "MAESTRO_TRUSTED_PROXIES": _int(environ, "MAESTRO_TRUSTED_PROXIES", 0),
        "MAESTRO_SHARE_MAX_TTL": _int(environ, "MAESTRO_SHARE_MAX_TTL", 90 * 24 * 3600, minimum=60),
        "MAESTRO_INGEST_MAX_BYTES": _int(environ, "MAESTRO_INGEST_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
        "MAESTRO_JOB_LEASE_SECONDS": _int(environ, "MAESTRO_JOB_LEASE_SECONDS", 600, minimum=5),
        "MAESTRO_LOGIN_RATE_LIMIT": _rate_limit(environ, "MAESTRO_LOGIN_RATE_LIMIT", "20 per minute"),
        "MAESTRO_ACCOUNT_RATE_LIMIT": _rate_limit(environ, "MAESTRO_ACCOUNT_RATE_LIMIT", "10 per minute"),
        "MAESTRO_SHARE_FAILURE_RATE_LIMIT": _rate_limit(environ, "MAESTRO_SHARE_FAILURE_RATE_LIMIT", "30 per minute"),
        # Wrong passcodes of share links (SPEC §10): per client address, and per link from everywhere.
        "MAESTRO_PASSCODE_ADDRESS_RATE_LIMIT": _rate_limit(
            environ, "MAESTRO_PASSCODE_ADDRESS_RATE_LIMIT", "5 per 15 minutes"
        ),
        "MAESTRO_PASSCODE_LINK_RATE_LIMIT": _rate_limit(environ, "MAESTRO_PASSCODE_LINK_RATE_LIMIT", "10 per minute"),
        "MAESTRO_FORGOT_RATE_LIMIT": _rate_limit(environ, "MAESTRO_FORGOT_RATE_LIMIT", "10 per hour"),
        "MAESTRO_FORGOT_ADDRESS_RATE_LIMIT": _rate_limit(environ, "MAESTRO_FORGOT_ADDRESS_RATE_LIMIT", "3 per hour"),
        "MAESTRO_REGISTER_RATE_LIMIT": _rate_limit(environ, "MAESTRO_REGISTER_RATE_LIMIT", "10 per hour"),
        "MAESTRO_RESET_RATE_LIMIT": _rate_limit(environ, "MAESTRO_RESET_RATE_LIMIT", "20 per hour"),
        "MAESTRO_WORKER_RATE_LIMIT": _rate_limit(environ, "MAESTRO_WORKER_RATE_LIMIT", "600 per minute"),
        # Role grants per user: each answer tells whether an address has an account, and mails someone.
        "MAESTRO_ROLE_GRANT_RATE_LIMIT": _rate_limit(environ, "MAESTRO_ROLE_GRANT_RATE_LIMIT", "30 per hour"),
        # Fair use of the analytics worker, per graph owner (graphs/quotas.py): 429 past each.
        "MAESTRO_QUOTA_GRAPHS": _int(environ, "MAESTRO_QUOTA_GRAPHS", 500, minimum=1),
        # Days a deleted graph stays in the Trash, restorable, before `flask graphs purge` removes it.
        "MAESTRO_TRASH_DAYS": _int(environ, "MAESTRO_TRASH_DAYS", 7, minimum=1),
        "MAESTRO_QUOTA_QUEUED_RUNS": _int(environ, "MAESTRO_QUOTA_QUEUED_RUNS", 20, minimum=1),
        "MAESTRO_QUOTA_RUNS_PER_HOUR": _int(environ, "MAESTRO_QUOTA_RUNS_PER_HOUR", 120, minimum=1),
        # Mail (password reset). Without MAIL_SERVER, messages go to the instance outbox.
        "MAIL_SERVER": environ.get("MAIL_SERVER", "").strip() or None,
        "MAIL_PORT": _int(environ, "MAIL_PORT", 465 if mail_ssl else 587 if mail_tls else 25, minimum=1),
        "MAIL_USE_TLS": mail_tls,
        "MAIL_USE_SSL": mail_ssl,
        "MAIL_USERNAME": environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": environ.get("MAIL_DEFAULT_SENDER", "Maestro Web <no-reply@localhost>"),
        "MAIL_TIMEOUT": _int(environ, "MAIL_TIMEOUT", 10, minimum=1),
        # Database
        "SQLALCHEMY_DATABASE_URI": _database_url(environ, instance),
        # hide_parameters: a database error never writes the statement's values (password hashes,
        # e-mail addresses, tokens) into a log line or an exception message.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        # Session JWT (flask-jwt-extended); keys come from KEY_RINGS["session"].
        "JWT_TOKEN_LOCATION": ["cookies", "headers"],
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=access_ttl),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=refresh_ttl),
        "JWT_ENCODE_AUDIENCE": "maestro-web",
        "JWT_DECODE_AUDIENCE": "maestro-web",
        "JWT_ENCODE_ISSUER": "maestro-server",
        "JWT_DECODE_ISSUER": "maestro-server",
        "JWT_HEADER_TYPE": "Bearer",
        "JWT_COOKIE_SECURE": production,
        "JWT_COOKIE_SAMESITE": "Lax",
        "JWT_SESSION_COOKIE": False,
        "JWT_ACCESS_COOKIE_NAME": f"{host_prefix}maestro_access",
        "JWT_REFRESH_COOKIE_NAME": f"{secure_prefix}maestro_refresh",
        "JWT_ACCESS_COOKIE_PATH": "/",
        "JWT_REFRESH_COOKIE_PATH": REFRESH_COOKIE_PATH,
        "JWT_COOKIE_DOMAIN": None,
        "JWT_COOKIE_CSRF_PROTECT": True,
        # The double-submit value travels in the forms (`jwt_csrf`), read from the token's claim; no
        # script reads a CSRF cookie, so none is set.
        "JWT_CSRF_IN_COOKIES": False,
        "JWT_CSRF_CHECK_FORM": True,
        # Flask-WTF owns `csrf_token` / `X-CSRFToken`; the JWT double-submit gets its own names
        # so that neither layer can satisfy (or break) the other.
        "JWT_ACCESS_CSRF_FIELD_NAME": "jwt_csrf",
        "JWT_REFRESH_CSRF_FIELD_NAME": "jwt_csrf",
        "JWT_ACCESS_CSRF_HEADER_NAME": "X-JWT-CSRF",
        "JWT_REFRESH_CSRF_HEADER_NAME": "X-JWT-CSRF",
        # Flask-WTF
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the Flask session instead of a clock
        "SESSION_COOKIE_NAME": f"{host_prefix}maestro_session",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        # Flask-Limiter
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "maestro",
        "RATELIMIT_ENABLED": _bool(environ, "MAESTRO_RATELIMIT_ENABLED", True),
        "REDIS_URL": redis_url or None,
        # Live events (SPEC §8): where browsers connect, where services publish, which page origins
        # the live server accepts besides MAESTRO_BASE_URL's.
        "MAESTRO_LIVE_URL": live_url,
        "MAESTRO_LIVE_PUBLISH_URL": environ.get("MAESTRO_LIVE_PUBLISH_URL", "").strip() or _live_publish_url(live_url),
        "MAESTRO_LIVE_ORIGINS": _origins(environ.get("MAESTRO_LIVE_ORIGINS", "")),
        "MAESTRO_LIVE_MAX_CONNECTIONS_PER_ADDRESS": _int(
            environ, "MAESTRO_LIVE_MAX_CONNECTIONS_PER_ADDRESS", 200, minimum=1
        ),
        # Seconds between the live server's pings (SPEC §8: 20); a peer silent for half of it is dropped.
        # Only the tests change it, to see a ping and a drop in a second instead of half a minute.
        "MAESTRO_LIVE_PING_INTERVAL": _int(environ, "MAESTRO_LIVE_PING_INTERVAL", 20, minimum=1),
        # Seconds between an open public page's checks of its link's state while it hears no live events
        # (docs/live-pages.md "How a link's change reaches an open page"); tests set 1.
        "MAESTRO_PUBLIC_STATE_POLL": _int(environ, "MAESTRO_PUBLIC_STATE_POLL", 30, minimum=1),
        # Redis keys and the pub/sub channel of the live servers start with this (tests use their own).
        "MAESTRO_LIVE_REDIS_PREFIX": environ.get("MAESTRO_LIVE_REDIS_PREFIX", "").strip() or "maestro:live:",
        # Discovery (SPEC §11): where the service listens, how long a crawl may take, which AWS-compatible
        # endpoints a source may name (never an arbitrary user URL).
        "MAESTRO_DISCOVERY_URL": environ.get("MAESTRO_DISCOVERY_URL", "").strip().rstrip("/")
        or "http://127.0.0.1:5002",
        "MAESTRO_DISCOVERY_TIMEOUT": _int(environ, "MAESTRO_DISCOVERY_TIMEOUT", 600, minimum=1),
        "MAESTRO_DISCOVERY_AWS_ENDPOINTS": [
            part.strip().rstrip("/")
            for part in environ.get("MAESTRO_DISCOVERY_AWS_ENDPOINTS", "").split(",")
            if part.strip()
        ],
        "MAESTRO_DISCOVERY_WORKERS": _int(environ, "MAESTRO_DISCOVERY_WORKERS", 4, minimum=1),
        **load_discovery_keys(environ, environment, instance),
        # Reports (SPEC §12): where the report service listens, how many reports it makes at once.
        "MAESTRO_REPORTS_URL": environ.get("MAESTRO_REPORTS_URL", "").strip().rstrip("/") or "http://127.0.0.1:5003",
        "MAESTRO_REPORTS_WORKERS": _int(environ, "MAESTRO_REPORTS_WORKERS", 2, minimum=1),
        # Whole request bodies; worker results have their own, smaller limit (MAESTRO_INGEST_MAX_BYTES).
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # One form field (the dependency textarea can hold a few MB).
        "MAX_FORM_MEMORY_SIZE": 4 * 1024 * 1024,
        "LOG_LEVEL": environ.get("LOG_LEVEL", "INFO").upper(),
        "LOG_FORMAT": _log_format(environ, environment),
        # Prometheus (docs/operations.md, "Metrics"): /metrics of the app, the live server and discovery, and
        # the worker's own port (0: none), answer these addresses, or anyone with the token.
        "MAESTRO_METRICS_ALLOW": _metrics_allow(environ),
        "MAESTRO_METRICS_TOKEN": _metrics_token(environ, production, key_rings),
        "MAESTRO_WORKER_METRICS_PORT": _int(environ, "MAESTRO_WORKER_METRICS_PORT", 0),
        "MAESTRO_WORKER_METRICS_HOST": environ.get("MAESTRO_WORKER_METRICS_HOST", "").strip() or "127.0.0.1",
    }
    settings.update(overrides)
    _check_rate_limits(settings)
    return settings
