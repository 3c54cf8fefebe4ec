"""Which address a request came from (elms.gateway.edge.client_address)."""

from __future__ import annotations

from elms.gateway.edge import client_address, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", " 192.168.1.1/32 ", ""])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says():
    assert client_address("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"


def test_a_peer_that_is_no_trusted_proxy_is_the_client():
    assert client_address("203.0.113.9", "6.6.6.6", PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client():
    # The client wrote 6.6.6.6 itself; the proxy appended the address it saw.
    assert client_address("10.1.2.3", "6.6.6.6, 198.51.100.7", PROXIES) == "198.51.100.7"
    assert client_address("10.1.2.3", "198.51.100.7, 192.168.1.1", PROXIES) == "198.51.100.7"


def test_a_chain_of_only_proxies_or_of_garbage_falls_back_to_the_peer():
    assert client_address("10.1.2.3", "10.9.9.9", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", "not-an-address", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", None, PROXIES) == "10.1.2.3"
