"""Access control: bearer tokens, each with a role (``read`` or ``operate``), checked in constant time.

``read`` may use every GET route (lists, details, the live stream, metrics); ``operate`` may also
POST (create, cancel). The dashboard page, its static files and the probes (``/healthz``, ``/readyz``)
are public: the page holds no data, and a probe cannot carry a token (readiness reveals only whether
the store answers). One ASGI middleware guards everything else, including the OpenAPI documents and
unknown paths, and refuses a request before its body is read.

A token is never kept, logged or echoed: only its SHA-256 digest is held, and a request's actor (what
the timeline records) names the token by a six-character fingerprint of that digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from taskapi.domain import InvalidInput

log = logging.getLogger("taskapi.api")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
QUERY_TOKEN = "access_token"  # noqa: S105 (the parameter's name, not a secret)
_SHORT_TOKEN = 16


class Role(StrEnum):
    READ = "read"
    OPERATE = "operate"


class TokenConfigError(InvalidInput):
    """The configured tokens cannot be used; the message names the entry, never the token."""


@dataclass(frozen=True, slots=True)
class Credential:
    """One configured token: its role and the SHA-256 digest of the token (the token is not kept)."""

    role: Role
    digest: bytes

    @property
    def actor(self) -> str:
        """How the timeline names a request made with this token, e.g. ``operate token 3f9a1c``."""
        return f"{self.role} token {self.digest.hex()[:6]}"

    def allows(self, method: str) -> bool:
        return self.role is Role.OPERATE or method in READ_METHODS


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccessTokens:
    """The configured tokens; empty means access control is off."""

    def __init__(self, credentials: Sequence[Credential] = ()) -> None:
        self.credentials = tuple(credentials)

    def __bool__(self) -> bool:
        return bool(self.credentials)

    def identify(self, token: str) -> Credential | None:
        """The credential of ``token``, or ``None``. Every configured digest is compared, always, with
        ``hmac.compare_digest`` over equal-length digests: the time taken tells nothing about which
        token (if any) matched or how much of it was right."""
        given = _digest(token)
        matches = [c for c in self.credentials if hmac.compare_digest(given, c.digest)]
        return matches[0] if matches else None


def parse_tokens(entries: Iterable[tuple[str, str]], source: str) -> AccessTokens:
    """``(where, "role:token")`` pairs into tokens; a malformed entry is a ``TokenConfigError`` that says
    where it is (``entry 2``, ``line 5``) and what is wrong, without repeating the token."""
    credentials: list[Credential] = []
    seen: dict[bytes, str] = {}
    for where, entry in entries:
        role_name, colon, token = entry.partition(":")
        role_name, token = role_name.strip(), token.strip()
        if not colon:
            raise TokenConfigError(source, f"{where} is not role:token (roles: read, operate)")
        if role_name not in Role.__members__.values():
            raise TokenConfigError(source, f"{where} has role {role_name!r}; roles are read and operate")
        if not token or any(ch.isspace() for ch in token):
            raise TokenConfigError(source, f"{where} has an empty token or one with whitespace in it")
        if not (token.isascii() and token.isprintable()):
            raise TokenConfigError(source, f"{where} has a token with characters outside printable ASCII")
        digest = _digest(token)
        if digest in seen:
            raise TokenConfigError(source, f"{where} repeats the token of {seen[digest]}")
        seen[digest] = where
        credential = Credential(Role(role_name), digest)
        if len(token) < _SHORT_TOKEN:
            log.warning(
                "%s: %s (%s) is shorter than %d characters", source, where, credential.actor, _SHORT_TOKEN
            )
        credentials.append(credential)
    return AccessTokens(credentials)


def load_tokens(inline: str | None, file: Path | None) -> AccessTokens:
    """The tokens of ``TASKAPI_API_TOKENS`` (comma-separated) or ``TASKAPI_API_TOKENS_FILE`` (one a
    line; blank lines and ``#`` comments are skipped). Both at once is refused as ambiguous; an empty
    setting or file is refused too, since it would silently turn access control off."""
    if inline is not None and file is not None:
        raise TokenConfigError(
            "TASKAPI_API_TOKENS", "set either TASKAPI_API_TOKENS or TASKAPI_API_TOKENS_FILE, not both"
        )
    if inline is not None:
        parts = [(f"entry {n}", part) for n, part in enumerate(inline.split(","), 1) if part.strip()]
        if not parts:
            raise TokenConfigError("TASKAPI_API_TOKENS", "is set but holds no role:token entry")
        return parse_tokens(parts, "TASKAPI_API_TOKENS")
    if file is not None:
        return parse_tokens(_file_entries(file), f"TASKAPI_API_TOKENS_FILE {file}")
    return AccessTokens()


def _file_entries(file: Path) -> list[tuple[str, str]]:
    source = f"TASKAPI_API_TOKENS_FILE {file}"
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenConfigError(source, f"cannot be read: {exc}") from None
    lines = [
        (f"line {n}", line)
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not _comment(line)
    ]
    if not lines:
        raise TokenConfigError(source, "holds no role:token line")
    return lines


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz"})


def is_public(path: str) -> bool:
    """The dashboard page, its static files and the probes need no token."""
    return path in PUBLIC_PATHS or path.startswith("/dashboard/")


class AccessControl:
    """ASGI middleware: a valid token of a role that allows the method, or 401/403 in the envelope.

    The token comes from ``Authorization: Bearer``, or on read methods from ``?access_token=`` (the
    browser's EventSource cannot send headers). The request's ``state.actor`` names the token.
    """

    def __init__(self, app: ASGIApp, tokens: AccessTokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        token, problem = _token_of(scope, method)
        if token is None:
            await _refuse(send, 401, problem, 'Bearer realm="taskapi"')
            return
        credential = self.tokens.identify(token)
        if credential is None:
            challenge = 'Bearer realm="taskapi", error="invalid_token"'
            await _refuse(send, 401, "Invalid access token", challenge)
            return
        if not credential.allows(method):
            message = f"A {credential.role} token cannot {method} {scope['path']}: it needs an operate token"
            challenge = 'Bearer realm="taskapi", error="insufficient_scope", scope="operate"'
            await _refuse(send, 403, message, challenge)
            return
        scope.setdefault("state", {})["actor"] = credential.actor
        await self.app(_without_query_token(scope), receive, send)


def _token_of(scope: Scope, method: str) -> tuple[str | None, str]:
    """The request's token, or ``None`` and why there is none."""
    header = dict(scope["headers"]).get(b"authorization")
    if header is not None:
        scheme, _, value = header.decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "The Authorization header must be: Bearer <token>"
        return value.strip(), ""
    query = [v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k == QUERY_TOKEN]
    if query and method not in READ_METHODS:
        return None, f"?{QUERY_TOKEN}= is accepted on GET only; send Authorization: Bearer <token>"
    if query and query[-1]:
        return query[-1], ""
    return None, "An access token is required: send Authorization: Bearer <token>"


def _without_query_token(scope: Scope) -> Scope:
    """The request without ``?access_token=``: no route, link or log downstream ever sees the token."""
    query: bytes = scope.get("query_string", b"")
    if QUERY_TOKEN.encode() not in query:
        return scope
    kept = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k != QUERY_TOKEN]
    return {**scope, "query_string": urlencode(kept).encode("latin-1")}


async def _refuse(send: Send, status: int, message: str, challenge: str) -> None:
    body = json.dumps({"code": status, "message": message, "data": None}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
