"""Signatures as Stripe makes them: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from webhooks.signing import signature_header, signature_of, signature_verify

SECRET = "whsec_test_secret"
NOW = 1_800_000_000


def test_the_signature_is_the_hmac_of_timestamp_dot_body():
    # given a body and a timestamp
    body = b'{"id":"evt_1","type":"invoice.issued"}'
    # when signed
    header = signature_header(secrets=[SECRET], body=body, timestamp=NOW)
    # then the header is t=…,v1=<hmac of "t.body">, which anyone with the secret can recompute
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert signature_of(secret=SECRET, body=body, timestamp=NOW) == expected


def test_two_secrets_give_two_v1_and_either_verifies():
    header = signature_header(secrets=["whsec_new", "whsec_old"], body=b"{}", timestamp=NOW)
    assert header.count("v1=") == 2
    assert signature_verify(secret="whsec_new", body=b"{}", header=header, now=NOW)
    assert signature_verify(secret="whsec_old", body=b"{}", header=header, now=NOW)
    assert not signature_verify(secret="whsec_other", body=b"{}", header=header, now=NOW)


def test_a_timestamp_outside_the_tolerance_is_refused():
    header = signature_header(secrets=[SECRET], body=b"{}", timestamp=NOW)
    assert signature_verify(secret=SECRET, body=b"{}", header=header, now=NOW + 300)
    assert not signature_verify(secret=SECRET, body=b"{}", header=header, now=NOW + 301)
    assert not signature_verify(secret=SECRET, body=b"{}", header=header, now=NOW - 301)


def test_malformed_headers_are_refused_without_raising():
    for header in ["", "t=abc,v1=00", "v1=00", f"t={NOW}", "garbage", f"t={NOW},v2=00"]:
        assert signature_verify(secret=SECRET, body=b"{}", header=header, now=NOW) is False


secrets_ = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=400)
times = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)


@given(secret=secrets_, body=bodies, timestamp=times)
def test_property_verify_of_sign_holds(secret, body, timestamp):
    header = signature_header(secrets=[secret], body=body, timestamp=timestamp)
    assert signature_verify(secret=secret, body=body, header=header, now=timestamp)


@given(secret=secrets_, body=bodies, timestamp=times, extra=st.binary(min_size=1, max_size=8))
def test_property_any_change_to_the_body_fails(secret, body, timestamp, extra):
    header = signature_header(secrets=[secret], body=body, timestamp=timestamp)
    assert not signature_verify(secret=secret, body=body + extra, header=header, now=timestamp)
    if body:
        flipped = bytes([body[0] ^ 1]) + body[1:]
        assert not signature_verify(secret=secret, body=flipped, header=header, now=timestamp)


@given(secret=secrets_, other=secrets_, body=bodies, timestamp=times)
def test_property_another_secret_fails(secret, other, body, timestamp):
    header = signature_header(secrets=[secret], body=body, timestamp=timestamp)
    assert signature_verify(secret=other, body=body, header=header, now=timestamp) == (other == secret)


@given(secret=secrets_, body=bodies, timestamp=times, shift=st.integers(min_value=1, max_value=100))
def test_property_a_changed_timestamp_fails(secret, body, timestamp, shift):
    # the signature of t, presented with another t (within the tolerance), does not verify
    header = signature_header(secrets=[secret], body=body, timestamp=timestamp)
    forged = header.replace(f"t={timestamp}", f"t={timestamp + shift}")
    assert not signature_verify(secret=secret, body=body, header=forged, now=timestamp)
