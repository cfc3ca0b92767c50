"""A fuzz run of the public HTTP endpoints from their OpenAPI schema: no input makes a service answer 5xx.

Every channel of intake-chat is switched on (with test credentials), so that each provider's webhook
is in the schema and fuzzed; the service runs as its own process against the real broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CHANNEL_ENV = {
    "WEBCHAT_SESSION_SECRET": "fuzz-session-secret",
    "SLACK_SIGNING_SECRET": "fuzz-slack-secret",
    "META_APP_SECRET": "fuzz-meta-secret",
    "META_VERIFY_TOKEN": "fuzz-verify",
    "TELEGRAM_SECRET_TOKEN": "fuzz-telegram-secret",
    "WECHAT_TOKEN": "fuzztoken",
    "WECHAT_APP_ID": "wx0000000000000000",
    "WECOM_CORP_ID": "ww0000000000000000",
    "WECOM_TOKEN": "fuzztoken",
    "WECOM_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "LINE_CHANNEL_SECRET": "fuzz-line-secret",
}


@dataclass
class PublicServer:
    url: str
    session: str


@pytest.fixture(scope="module")
def public_server(serve_service) -> Iterator[PublicServer]:
    with serve_service("intake-chat", "switchboard_intake_chat.main", CHANNEL_ENV) as url:
        session = httpx.post(f"{url}/v1/webchat/sessions").json()["session"]
        yield PublicServer(url, session)


@pytest.fixture(scope="module")
def public_api(public_server: PublicServer) -> schemathesis.BaseSchema:
    document = httpx.get(f"{public_server.url}/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


def test_every_channel_is_in_the_schema(public_api):
    paths = {operation.path for operation in (r.ok() for r in public_api.get_all_operations())}
    for path in (
        "/v1/webchat/messages",
        "/v1/webchat/actions",
        "/v1/slack/events",
        "/v1/slack/interactivity",
        "/v1/whatsapp/webhook",
        "/v1/telegram/webhook",
        "/v1/wechat/callback",
        "/v1/wecom/callback",
        "/v1/line/webhook",
    ):
        assert path in paths, f"{path} missing from the OpenAPI document"


def test_no_input_makes_a_public_endpoint_answer_with_a_server_error(public_api, public_server):
    failures: list[str] = []
    operations = [result.ok() for result in public_api.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            headers = dict(case.headers or {})
            if case.path.startswith("/v1/webchat/") and "authorization" not in {k.lower() for k in headers}:
                headers["Authorization"] = f"Bearer {public_server.session}"
            response = case.call(base_url=public_server.url, headers=headers, timeout=30)
            assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"

        try:
            check()
        except AssertionError as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert len(operations) >= 10
    assert failures == []
