"""The link policy of the HTTP transport: which addresses may be reached, and how."""

from __future__ import annotations

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from yimen.sync.transports.http import InsecureLink, is_loopback, link_ssl

PIN = "0f" * 32
hosts = st.one_of(st.sampled_from(["127.0.0.1", "127.8.9.1", "[::1]", "localhost", "LOCALHOST.", "10.0.0.5",
                                   "[fe80::1]", "town.example", "0.0.0.0", "127.0.0.1.example", ""]),
                  st.text(max_size=30))
schemes = st.sampled_from(["http", "https", "HTTP", "ftp", "", "http:/", "https:"])


@given(scheme=schemes, host=hosts, port=st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}")),
       pin=st.one_of(st.none(), st.just(PIN)), plain=st.booleans(), tail=st.text(max_size=10))
def test_an_address_is_pinned_tls_or_plain_loopback_when_asked_and_nothing_else(scheme, host, port, pin, plain,
                                                                                tail):
    url = f"{scheme}://{host}{port}{tail}"
    try:
        got = link_ssl(url, pin, plain)
    except InsecureLink as e:
        assert e.zh and e.en and "\n" not in e.en + e.zh
        return
    if got is False:
        assert plain and url.lower().startswith("http://") and is_loopback(URL(url).host)
    else:
        assert isinstance(got, aiohttp.Fingerprint) and pin and url.lower().startswith("https://")


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("localhost.", True), ("10.0.0.1", False),
                                            ("0.0.0.0", False), ("::", False), ("localhost.example", False),
                                            ("", False), (None, False)])
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_the_refusals_say_what_to_do():
    with pytest.raises(InsecureLink, match="only an address on this machine may be plain"):
        link_ssl("http://10.0.0.5:8710", PIN, True)
    with pytest.raises(InsecureLink, match="the plain_http setting"):
        link_ssl("http://127.0.0.1:8710", PIN, False)
    with pytest.raises(InsecureLink, match="no certificate pin is known"):
        link_ssl("https://10.0.0.5:8710", None)
    with pytest.raises(InsecureLink, match="give https://host:port"):
        link_ssl("10.0.0.5:8710", PIN)
    assert link_ssl("http://localhost:8710", None, True) is False
    assert isinstance(link_ssl("https://10.0.0.5:8710", PIN), aiohttp.Fingerprint)
