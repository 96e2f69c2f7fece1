"""Access control: which token may do what, how refusals look, and how the configuration is read."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskapi.api.auth import AccessTokens, Credential, Role, TokenConfigError, load_tokens
from taskapi.app import check_binding, is_loopback
from taskapi.domain import InvalidInput
from taskapi.settings import Settings
from taskapi.wiring import redacted
from tests.helpers.server import TASKS, InProcessApi, envelope, in_process_api

READ = "r34d-t0ken-with-enough-length"
OPERATE = "0p3rate-t0ken-with-enough-length"
OTHER_OPERATE = "second-operate-token-0123456789"
CREATE = {"project_id": 1, "task_type": "search", "params": {}}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[InProcessApi]:
    tokens = load_tokens(f"read:{READ}, operate:{OPERATE},operate:{OTHER_OPERATE}", None)
    with in_process_api(tmp_path / "t.db", app_options={"tokens": tokens}) as api:
        yield api


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- who may do what ---------------------------------------------------------------------------------


def test_without_a_token_every_api_route_answers_401_in_the_envelope_with_a_bearer_challenge(
    secured: InProcessApi,
) -> None:
    for method, path in [
        ("GET", TASKS),
        ("GET", f"{TASKS}/1"),
        ("POST", TASKS),
        ("POST", f"{TASKS}/1/cancel"),
        ("GET", f"{TASKS}/events"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/no/such/path"),
    ]:
        response = secured.request(method, path, json=CREATE if method == "POST" else None)
        body = envelope(response, 401)
        assert "Bearer <token>" in body["message"], (method, path, body)
        assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
    assert secured.rows() == []  # the refused POST created nothing


def test_a_wrong_token_is_401_and_names_no_token(secured: InProcessApi) -> None:
    for token in ["nope", READ[:-1], READ + "x", OPERATE.upper()]:
        response = secured.get(TASKS, headers=bearer(token))
        body = envelope(response, 401)
        assert body["message"] == "Invalid access token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert token not in response.text


def test_a_read_token_reads_but_may_not_post(secured: InProcessApi) -> None:
    assert envelope(secured.get(TASKS, headers=bearer(READ)), 200)["data"] == []
    assert envelope(secured.get("/readyz", headers=bearer(READ)), 200)["data"] == {"store": "sqlite"}
    assert secured.get("/metrics", headers=bearer(READ)).status_code == 200

    response = secured.post(TASKS, json=CREATE, headers=bearer(READ))

    body = envelope(response, 403)
    assert body["message"] == f"A read token cannot POST {TASKS}: it needs an operate token"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert secured.rows() == []


def test_an_operate_token_may_create_read_and_cancel(secured: InProcessApi) -> None:
    for token in (OPERATE, OTHER_OPERATE):
        created = envelope(secured.post(TASKS, json=CREATE, headers=bearer(token)), 201)["data"]["id"]
        assert (
            envelope(secured.get(f"{TASKS}/{created}", headers=bearer(token)), 200)["data"]["id"] == created
        )
        envelope(secured.post(f"{TASKS}/{created}/cancel", headers=bearer(token)), 200)
    assert [row[3] for row in secured.rows()] == ["cancelled", "cancelled"]


def test_the_query_token_is_accepted_on_get_only(secured: InProcessApi) -> None:
    assert envelope(secured.get(TASKS, params={"access_token": READ}), 200)["data"] == []

    response = secured.post(TASKS, params={"access_token": OPERATE}, json=CREATE)

    body = envelope(response, 401)
    assert "accepted on GET only" in body["message"]
    assert secured.rows() == []


def test_the_query_token_goes_no_further_than_the_check(secured: InProcessApi) -> None:
    for _ in range(2):
        envelope(secured.post(TASKS, json=CREATE, headers=bearer(OPERATE)), 201)

    response = secured.get(TASKS, params={"limit": 1, "access_token": READ, "project_id": 1})

    assert len(envelope(response, 200)["data"]) == 1
    link = response.headers["link"]  # the next page's link keeps the filters, not the token
    assert "project_id=1" in link and "limit=1" in link and READ not in link and "access_token" not in link


def test_a_malformed_authorization_header_is_401(secured: InProcessApi) -> None:
    for header in [f"Basic {READ}", "Bearer", "Bearer   ", READ]:
        body = envelope(secured.get(TASKS, headers={"Authorization": header}), 401)
        assert body["message"] == "The Authorization header must be: Bearer <token>", header


def test_the_dashboard_and_the_probes_are_public(secured: InProcessApi) -> None:
    """A liveness or readiness probe cannot carry a token; readiness tells only whether the store
    answers."""
    assert envelope(secured.get("/healthz"), 200)["data"] == {"status": "ok"}
    assert envelope(secured.get("/readyz"), 200)["data"] == {"store": "sqlite"}
    page = secured.get("/")
    if page.status_code != 404:  # the dashboard router is there (the WEB helper's module)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")


def test_without_tokens_access_control_is_off(tmp_path: Path) -> None:
    with in_process_api(tmp_path / "t.db") as api:
        assert envelope(api.post(TASKS, json=CREATE), 201)["data"]["status"] == "pending"
        assert envelope(api.get(TASKS), 200)["data"][0]["project_id"] == 1


def test_the_openapi_declares_the_bearer_scheme_when_tokens_are_set(secured: InProcessApi) -> None:
    schema = secured.get("/openapi.json", headers=bearer(READ)).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schema["security"] == [{"bearer": []}]
    assert schema["paths"]["/healthz"]["get"]["security"] == []  # public
    assert schema["paths"]["/readyz"]["get"]["security"] == []
    assert schema["paths"]["/api/v1/tasks"]["get"].get("security") is None  # the document's default


# -- the actor ---------------------------------------------------------------------------------------


def test_the_actor_names_the_role_and_a_fingerprint_never_the_token() -> None:
    tokens = load_tokens(f"operate:{OPERATE}", None)
    credential = tokens.identify(OPERATE)
    assert credential is not None
    assert credential.actor == f"operate token {hashlib.sha256(OPERATE.encode()).hexdigest()[:6]}"
    assert OPERATE not in credential.actor and OPERATE not in repr(credential)


def test_the_timeline_signs_writes_with_the_token_s_fingerprint(secured: InProcessApi) -> None:
    task_id = envelope(secured.post(TASKS, json=CREATE, headers=bearer(OPERATE)), 201)["data"]["id"]
    envelope(secured.post(f"{TASKS}/{task_id}/cancel", headers=bearer(OTHER_OPERATE)), 200)

    timeline = envelope(secured.get(f"{TASKS}/{task_id}/events", headers=bearer(READ)), 200)["data"]

    fingerprint = {
        token: hashlib.sha256(token.encode()).hexdigest()[:6] for token in (OPERATE, OTHER_OPERATE)
    }
    assert [(e["kind"], e["actor"]) for e in timeline] == [
        ("created", f"operate token {fingerprint[OPERATE]}"),
        ("cancelled", f"operate token {fingerprint[OTHER_OPERATE]}"),
    ]


def test_identify_finds_each_token_and_nothing_else() -> None:
    tokens = load_tokens(f"read:{READ},operate:{OPERATE}", None)
    read, operate = tokens.identify(READ), tokens.identify(OPERATE)
    assert read is not None and read.role is Role.READ
    assert operate is not None and operate.role is Role.OPERATE
    assert tokens.identify("") is None
    assert tokens.identify(READ + OPERATE) is None
    assert not AccessTokens() and tokens


def test_a_read_credential_allows_only_read_methods() -> None:
    read = Credential(Role.READ, b"x" * 32)
    assert [m for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE") if read.allows(m)] == [
        "GET",
        "HEAD",
        "OPTIONS",
    ]


# -- configuration -----------------------------------------------------------------------------------


def test_a_tokens_file_is_read_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# who may do what\n\nread:{READ}\n  operate : {OPERATE}  \n")
    tokens = load_tokens(None, path)
    assert [
        (c.role, tokens.identify(t) == c) for c, t in zip(tokens.credentials, [READ, OPERATE], strict=True)
    ] == [
        (Role.READ, True),
        (Role.OPERATE, True),
    ]


@pytest.mark.parametrize(
    ("inline", "message"),
    [
        (f"{READ}", "TASKAPI_API_TOKENS: entry 1 is not role:token (roles: read, operate)"),
        (
            f"read:{READ},admin:{OPERATE}",
            "TASKAPI_API_TOKENS: entry 2 has role 'admin'; roles are read and operate",
        ),
        ("read:", "TASKAPI_API_TOKENS: entry 1 has an empty token or one with whitespace in it"),
        (
            f"read:{READ[:5]} {READ[5:]}",
            "TASKAPI_API_TOKENS: entry 1 has an empty token or one with whitespace in it",
        ),
        (f"read:{READ},operate:{READ}", "TASKAPI_API_TOKENS: entry 2 repeats the token of entry 1"),
        (
            f"operate:{READ}é",
            "TASKAPI_API_TOKENS: entry 1 has a token with characters outside printable ASCII",
        ),
        (" , ", "TASKAPI_API_TOKENS: is set but holds no role:token entry"),
    ],
)
def test_malformed_inline_tokens_are_refused_with_a_message_that_hides_the_token(
    inline: str, message: str
) -> None:
    with pytest.raises(TokenConfigError) as raised:
        load_tokens(inline, None)
    assert str(raised.value) == message
    assert READ not in str(raised.value) and READ[:5] not in str(raised.value)


def test_malformed_token_files_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(TokenConfigError, match="cannot be read"):
        load_tokens(None, missing)
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(TokenConfigError, match="holds no role:token line"):
        load_tokens(None, empty)
    bad = tmp_path / "bad"
    bad.write_text(f"read:{READ}\n\nwrite:{OPERATE}\n")
    with pytest.raises(TokenConfigError, match="line 3 has role 'write'"):
        load_tokens(None, bad)
    with pytest.raises(TokenConfigError, match="not both"):
        load_tokens(f"read:{READ}", bad)


def test_short_tokens_are_accepted_with_a_warning_that_shows_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="taskapi.api"):
        tokens = load_tokens("read:tok1", None)
    assert tokens.identify("tok1") is not None
    assert "shorter than 16 characters" in caplog.text and "tok1" not in caplog.text


# -- binding -----------------------------------------------------------------------------------------


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_logged_store_urls_hide_the_password() -> None:
    assert redacted("postgresql://app:s3cret@db:5432/tasks") == "postgresql://app:***@db:5432/tasks"
    assert redacted("sqlite:///./taskapi.db") == "sqlite:///./taskapi.db"


def test_loopback_addresses() -> None:
    assert [h for h in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"] if not is_loopback(h)] == []
    assert [h for h in ["0.0.0.0", "::", "10.1.2.3", "example.org"] if is_loopback(h)] == []  # noqa: S104


def test_no_tokens_on_loopback_logs_that_access_control_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="taskapi"):
        check_binding(settings(host="127.0.0.1"), AccessTokens())
    assert (
        "access control is off (no API tokens): listening on the loopback address 127.0.0.1 only"
        in caplog.text
    )


def test_no_tokens_on_a_public_address_is_refused_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InvalidInput, match=r"0\.0\.0\.0 is not a loopback address and no API tokens"):
        check_binding(settings(host="0.0.0.0"), AccessTokens())  # noqa: S104
    with caplog.at_level(logging.WARNING, logger="taskapi"):
        check_binding(settings(host="0.0.0.0", allow_unauthenticated=True), AccessTokens())  # noqa: S104
    assert "access control is off and 0.0.0.0 is not a loopback address" in caplog.text


def test_tokens_make_any_address_acceptable(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="taskapi"):
        check_binding(settings(host="0.0.0.0"), load_tokens(f"read:{READ}", None))  # noqa: S104
    assert "access control is on: 1 token(s) configured" in caplog.text
