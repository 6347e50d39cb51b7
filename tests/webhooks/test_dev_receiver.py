"""The run command's stand-in receiver (`/dev/webhook-receiver/`): what the demo's Hoshi Mart
endpoint points at. It answers 204 only to a delivery signed by an enabled endpoint registered
with its URL, 400 otherwise, and is a 404 unless DEBUG."""

from __future__ import annotations

import time

from django.test import Client

from webhooks.services import webhook_endpoint_create, webhook_endpoint_disable
from webhooks.signing import signature_header

URL = "http://testserver/dev/webhook-receiver/"
BODY = b'{"id": "evt_1", "type": "invoice.issued"}'


def _post(body: bytes, header: str):
    return Client().post(
        "/dev/webhook-receiver/", data=body, content_type="application/json", HTTP_HAKEN_SIGNATURE=header
    )


def test_a_delivery_signed_by_the_endpoint_registered_with_its_url_is_accepted(world, settings):
    # given the run command (DEBUG) and Hoshi Mart's endpoint pointed at the stand-in
    settings.DEBUG = True
    issued = webhook_endpoint_create(
        actor=world.hoshi_owner, partner=world.hoshi, url=URL, event_types=["invoice.issued"]
    )
    now = int(time.time())

    # when a delivery signed with its secret arrives, then it is accepted
    assert _post(BODY, signature_header(secrets=[issued.secret], body=BODY, timestamp=now)).status_code == 204
    # when the body was changed or another secret signed it, then it is refused
    assert _post(BODY + b" ", signature_header(secrets=[issued.secret], body=BODY, timestamp=now)).status_code == 400
    assert _post(BODY, signature_header(secrets=["whsec_other"], body=BODY, timestamp=now)).status_code == 400
    assert _post(BODY, "").status_code == 400
    # when the endpoint is disabled, then its signature no longer counts
    webhook_endpoint_disable(actor=world.hoshi_owner, endpoint=issued.endpoint)
    assert _post(BODY, signature_header(secrets=[issued.secret], body=BODY, timestamp=now)).status_code == 400


def test_it_is_not_there_without_debug(world, settings):
    settings.DEBUG = False
    issued = webhook_endpoint_create(
        actor=world.hoshi_owner, partner=world.hoshi, url=URL, event_types=["invoice.issued"]
    )
    header = signature_header(secrets=[issued.secret], body=BODY, timestamp=int(time.time()))
    assert _post(BODY, header).status_code == 404
