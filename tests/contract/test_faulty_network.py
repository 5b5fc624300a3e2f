"""FaultyNetwork between a real httpx client and the real simulator: each mode does to the client what it promises.

The simulator runs in its own thread (SimulatorThread) and so does the forwarder, so the tests are synchronous.
Waits are real but short: a hang is detected by a client read timeout of a fraction of a second.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import httpx
import pytest

from snyk_broker_operator.simulator import SimulatorThread, shipped_seed_path
from support.faulty_network import ConnectionCounts, FaultyNetwork, NetworkMode
from support.waiting import wait_for

EXAMPLE_GROUP_KEY = "example-key-with-group-access"
AUTHORIZATION = {"Authorization": f"token {EXAMPLE_GROUP_KEY}"}
HANG_DETECTED_AFTER = httpx.Timeout(5.0, read=0.3)
# What a client may see of an RST, depending on whether it arrives before, during or after the request is sent.
RESET_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)
RAW_REQUEST = b"GET /v1/user/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token " + EXAMPLE_GROUP_KEY.encode()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(shipped_seed_path(), random_seed=1) as running:
        yield running


@pytest.fixture
def network(simulator: SimulatorThread) -> Iterator[FaultyNetwork]:
    with FaultyNetwork(simulator.running.host, simulator.running.port, rng=random.Random(3)) as faulty:
        yield faulty


@pytest.fixture
def client(network: FaultyNetwork) -> Iterator[httpx.Client]:
    """A keep-alive client of the simulator's v1 API through the forwarder."""
    with httpx.Client(base_url=network.url + "/v1", headers=AUTHORIZATION, timeout=HANG_DETECTED_AFTER) as http:
        yield http


def _user_me_orgs(client: httpx.Client) -> list[str]:
    response = client.get("/user/me")
    assert response.status_code == 200
    return sorted(org["name"] for org in response.json()["orgs"])


def _raw_exchange(network: FaultyNetwork) -> socket.socket:
    """A raw keep-alive connection through the forwarder that has had one answer, so it is known to be forwarded."""
    raw = socket.create_connection(("127.0.0.1", network.port), timeout=5)
    raw.sendall(RAW_REQUEST + b"\r\n\r\n")
    assert raw.recv(65536).startswith(b"HTTP/1.1 200 ")
    return raw


def _is_closed_by_peer(raw: socket.socket) -> bool:
    try:
        return raw.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_pass_through_forwards_requests_and_answers(network: FaultyNetwork, client: httpx.Client) -> None:
    first = _user_me_orgs(client)
    second = _user_me_orgs(client)

    assert first == second == ["payments", "platform"]
    assert network.mode is NetworkMode.PASS_THROUGH
    assert network.counts == ConnectionCounts(accepted=1, forwarded=1)  # one keep-alive connection carried both


def test_down_refuses_connections_until_pass_through_binds_the_same_port_again(
    network: FaultyNetwork, client: httpx.Client
) -> None:
    port = network.port

    network.down()
    with pytest.raises(httpx.ConnectError):
        client.get("/user/me")
    network.pass_through()

    assert network.port == port
    assert _user_me_orgs(client)
    assert network.counts == ConnectionCounts(accepted=1, forwarded=1)  # the refused attempt never reached it


def test_down_closes_keep_alive_connections_opened_before_it(network: FaultyNetwork, client: httpx.Client) -> None:
    _user_me_orgs(client)
    raw = _raw_exchange(network)

    with raw:
        network.down()
        assert _is_closed_by_peer(raw)
    with pytest.raises(httpx.TransportError):
        client.get("/user/me")


def test_reset_resets_new_connections_and_open_ones_at_rate_one(network: FaultyNetwork, client: httpx.Client) -> None:
    raw = _raw_exchange(network)

    with raw:
        network.reset()
        # SO_LINGER (1, 0): the open connection ends with an RST, not a FIN.
        with pytest.raises(ConnectionResetError):
            raw.recv(65536)
    with pytest.raises(RESET_ERRORS):
        client.get("/user/me")
    network.pass_through()

    assert _user_me_orgs(client)
    assert network.counts == ConnectionCounts(accepted=3, forwarded=2, reset=2)


def test_reset_at_a_rate_draws_from_the_injected_random(simulator: SimulatorThread) -> None:
    def outcomes(seed: int) -> list[bool]:
        upstream = simulator.running
        with FaultyNetwork(upstream.host, upstream.port, rng=random.Random(seed)) as faulty:
            faulty.reset(rate=0.5)
            # "Connection: close" makes every request a new connection, so each one gets a draw of its own.
            headers = {**AUTHORIZATION, "Connection": "close"}
            with httpx.Client(base_url=faulty.url + "/v1", headers=headers) as http:
                answered = []
                for _ in range(20):
                    try:
                        answered.append(http.get("/user/me").status_code == 200)
                    except RESET_ERRORS:
                        answered.append(False)
            assert faulty.counts == ConnectionCounts(
                accepted=20, forwarded=answered.count(True), reset=answered.count(False)
            )
            return answered

    first = outcomes(seed=11)

    assert 0 < first.count(True) < 20
    assert outcomes(seed=11) == first


def test_hang_never_answers_new_connections_and_pass_through_closes_them(
    network: FaultyNetwork, client: httpx.Client
) -> None:
    network.hang()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/user/me")
    raw = socket.create_connection(("127.0.0.1", network.port), timeout=5)
    with raw:
        raw.sendall(RAW_REQUEST + b"\r\n\r\n")
        # The kernel completes the handshake before the forwarder's loop takes the connection: wait until it has.
        wait_for(lambda: network.counts.hung == 2, timeout=5, interval=0.01, what="the raw connection to be hung")
        network.pass_through()
        assert _is_closed_by_peer(raw)

    assert _user_me_orgs(client)
    assert network.counts == ConnectionCounts(accepted=3, forwarded=1, hung=2)


def test_hang_stalls_keep_alive_connections_opened_before_it(network: FaultyNetwork, client: httpx.Client) -> None:
    _user_me_orgs(client)

    network.hang()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/user/me")  # on the pooled connection: the request is swallowed
    network.pass_through()

    assert _user_me_orgs(client)
    assert network.counts == ConnectionCounts(accepted=2, forwarded=2, hung=1)


def test_reset_rejects_a_rate_outside_zero_to_one(network: FaultyNetwork) -> None:
    with pytest.raises(ValueError, match="probability"):
        network.reset(rate=1.5)
