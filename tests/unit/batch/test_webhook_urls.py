"""Behaviour: callback URLs are http(s) only and never point inside (SSRF).

Literal loopback, private, link-local, unspecified and multicast addresses (IPv4,
IPv6, IPv4-mapped) are refused at the edge unless private addresses are allowed;
a hostname is resolved when the POST is made and refused if it resolves inside.
"""

from __future__ import annotations

import httpx
import pytest

from worker.batch.completion import InvalidBatch, check_batch
from worker.batch.webhook import UnsafeURL, check_destination, check_url, post_json

INSIDE = [
    "http://127.0.0.1/x",
    "http://127.8.9.10:8080/x",
    "http://10.0.0.5/x",
    "http://172.16.3.4/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/x",
    "http://224.0.0.1/x",
    "http://100.64.0.1/x",
    "http://[::1]/x",
    "http://[fe80::1]/x",
    "http://[fc00::1]/x",
    "http://[::]/x",
    "http://[ff02::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:10.0.0.1]/x",
    "http://localhost:8000/x",
    "http://api.localhost/x",
]
OUTSIDE = ["https://93.184.216.34/x", "https://[2606:4700:4700::1111]/x", "https://hooks.test/x"]


@pytest.mark.parametrize("url", INSIDE)
def test_given_an_inside_address_then_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeURL, match="RELOAD_WEBHOOK_ALLOW_PRIVATE"):
        check_url(url, allow_private=False)
    with pytest.raises(InvalidBatch, match=r"^callback_url: .*private"):
        check_batch(["m1"], url, max_batch=10, allow_private=False)

    assert check_url(url, allow_private=True) == url
    assert check_batch(["m1"], url, max_batch=10, allow_private=True) == ["m1"]


@pytest.mark.parametrize("url", OUTSIDE)
def test_given_a_public_address_or_a_hostname_then_accepted_at_the_edge(url: str) -> None:
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/x", "file:///etc/passwd", "http://h:99999/"])
def test_given_not_http_then_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(UnsafeURL, match="expected an http"):
        check_url(url, allow_private=True)


def test_the_edge_reads_the_environment_when_not_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELOAD_WEBHOOK_ALLOW_PRIVATE", raising=False)
    with pytest.raises(InvalidBatch):
        check_batch(["m1"], "http://127.0.0.1:9/x", max_batch=10)

    monkeypatch.setenv("RELOAD_WEBHOOK_ALLOW_PRIVATE", "true")
    assert check_batch(["m1"], "http://127.0.0.1:9/x", max_batch=10) == ["m1"]


@pytest.mark.parametrize("resolved", [["127.0.0.1"], ["93.184.216.34", "10.1.2.3"], ["::1"]])
def test_given_a_hostname_resolving_inside_then_the_post_is_refused(resolved: list[str]) -> None:
    def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.test", 443)
        return resolved

    with pytest.raises(UnsafeURL, match=r"hooks\.test resolves to"):
        check_destination("https://hooks.test/x", allow_private=False, resolve=resolve)


def test_given_a_hostname_resolving_inside_then_nothing_is_sent() -> None:
    sent: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    )

    with pytest.raises(UnsafeURL):
        post_json(
            "http://rebind.test/x", {"a": 1}, client=client, allow_private=False,
            resolve=lambda host, port: ["127.0.0.1"],
        )  # fmt: skip

    assert sent == []


def test_given_a_hostname_resolving_outside_then_the_post_goes() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204)))

    status = post_json(
        "http://hooks.test/x", {"a": 1}, client=client, allow_private=False,
        resolve=lambda host, port: ["93.184.216.34", "2606:4700:4700::1111"],
    )  # fmt: skip

    assert status == 204


def test_the_real_resolver_refuses_localhost_by_name() -> None:
    with pytest.raises(UnsafeURL):
        check_destination("http://localhost/x", allow_private=False)
