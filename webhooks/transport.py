"""One POST to a receiver, with the standard library: a timeout, no redirects followed, and
(unless settings.WEBHOOK_ALLOW_PRIVATE_TARGETS) no private, loopback or link-local address.

The address is checked on the socket actually connected, after DNS resolution, so a name
that resolves to 127.0.0.1 or to a cloud metadata address (169.254.169.254) is refused too,
and a name re-pointed between a check and the connection cannot slip through.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EXCERPT_CHARS = 500


class TargetRefused(Exception):
    """The URL points somewhere deliveries may not go."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    excerpt: str  # the start of the body, or why there was no answer

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_is_literal_private(host: str) -> bool:
    """A host given as an address (or `localhost`) that is not public. Names are resolved
    only when delivering (see the module's note)."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return not address_is_public(host)
    except ValueError:
        return False


def _guarded_create_connection(allow_private: bool) -> Any:
    def create(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
        sock = socket.create_connection(address, timeout, source_address)
        peer = sock.getpeername()[0]
        if not allow_private and not address_is_public(peer):
            sock.close()
            raise TargetRefused(f"{address[0]} resolves to {peer}, a private address; deliveries go to public ones.")
        return sock

    return create


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> Answer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Answer(None, "Not an http(s) URL.")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    connection._create_connection = _guarded_create_connection(allow_private)  # type: ignore[attr-defined]
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        return Answer(response.status, excerpt)
    except TargetRefused as refused:
        return Answer(None, str(refused)[:EXCERPT_CHARS])
    except (OSError, http.client.HTTPException) as error:  # timeouts, refused connections, TLS errors
        return Answer(None, f"{type(error).__name__}: {error}"[:EXCERPT_CHARS])
    finally:
        connection.close()
