"""FaultyNetwork: a TCP forwarder on 127.0.0.1 that owns the network between a client and an upstream server.

Chaos tests put it between the operator's HTTP client and the Snyk API simulator to inject the faults an HTTP
server cannot produce about itself: the server being down (connection refused), connections reset (RST), and
connections that hang (accepted, never answered). Usage::

    with SimulatorThread(shipped_seed_path()) as simulator, FaultyNetwork("127.0.0.1", simulator.running.port) as net:
        httpx.get(net.url + "/v1/user/me", ...)  # forwarded
        net.down()  # connection refused, and open connections closed, until the next mode change

The forwarder runs an asyncio loop in a daemon thread: one task per connection plus one per direction, so a few
hundred idle keep-alive connections cost a few hundred parked tasks rather than threads. Modes are switched from
the test's thread; every switch runs on the loop and has taken full effect (sockets closed or reset, listener
closed or bound again) when the call returns, so the test's next request already meets the new mode.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import enum
import random
import socket
import struct
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

LOCALHOST = "127.0.0.1"
_CHUNK_BYTES = 64 * 1024
# Well above the default 100, so a burst of a few hundred connections is not held back by a full accept queue.
_LISTEN_BACKLOG = 1024
# How long a caller waits for the loop to carry out start, a mode switch or stop; each takes milliseconds.
_LOOP_CALL_TIMEOUT_SECONDS = 10.0
# How long a connection that ended normally may take to flush what is still buffered before it is cut.
_GRACEFUL_CLOSE_TIMEOUT_SECONDS = 2.0
# SO_LINGER on, zero seconds: close() then discards unsent data and sends an RST instead of a FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class NetworkMode(enum.Enum):
    PASS_THROUGH = "pass-through"
    DOWN = "down"
    RESET = "reset"
    HANG = "hang"


@dataclasses.dataclass(frozen=True)
class ConnectionCounts:
    """What happened to the connections the forwarder accepted (attempts refused while down are never seen).

    ``accepted`` counts every accepted connection; ``forwarded`` those that reached the upstream; ``reset`` those
    ended with an RST (new ones in reset mode, and open ones when reset mode starts at rate 1.0); ``hung`` those held
    without an answer in hang mode (new ones, and open ones that sent or received bytes during the hang).
    One connection can be counted in more than one of the last three (forwarded, then hung, for example).
    """

    accepted: int = 0
    forwarded: int = 0
    reset: int = 0
    hung: int = 0


@dataclasses.dataclass(eq=False)
class _Connection:
    """One client connection and, once it is forwarded, its upstream connection."""

    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    task: asyncio.Task[None]
    upstream_writer: asyncio.StreamWriter | None = None
    # Set once hang mode has swallowed bytes of this connection: it must never deliver anything again, so it is
    # closed when the hang ends rather than resumed mid-exchange.
    hung: bool = False

    def writers(self) -> list[asyncio.StreamWriter]:
        return [self.client_writer] if self.upstream_writer is None else [self.client_writer, self.upstream_writer]

    def cut(self, *, with_reset: bool) -> None:
        """Close both sides now, dropping anything buffered; ``with_reset`` makes the client side see an RST."""
        if with_reset:
            _arm_reset(self.client_writer)
        for writer in self.writers():
            writer.transport.abort()


def _arm_reset(writer: asyncio.StreamWriter) -> None:
    client_socket = writer.get_extra_info("socket")
    if client_socket is not None:
        # The peer may already be gone, in which case there is nothing left to reset.
        with contextlib.suppress(OSError):
            client_socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)


class FaultyNetwork:
    """A TCP forwarder from ``127.0.0.1:<port>`` to an upstream address, with switchable network faults.

    Modes (default pass-through), switchable at any time from any thread but the forwarder's own:

    - :meth:`pass_through`: forward bytes both ways.
    - :meth:`down`: close the listening socket (new connections are refused) and every open connection.
      Any other mode binds the same port again.
    - :meth:`reset`: each new connection, with probability ``rate``, is accepted and then reset (RST); at rate 1.0
      open connections are reset too. The draws come from the injected ``rng``.
    - :meth:`hang`: new connections are accepted and read but never forwarded nor answered; open connections stop
      delivering bytes too (whatever they send or receive is swallowed). When the mode changes again, every
      connection the hang swallowed bytes of is closed; connections that stayed idle through it carry on.
    """

    def __init__(
        self, upstream_host: str, upstream_port: int, *, seed: int | None = None, rng: random.Random | None = None
    ) -> None:
        """``rng`` draws the resets; ``seed`` is shorthand for ``rng=random.Random(seed)``. Without either, seed 0."""
        if seed is not None and rng is not None:
            raise ValueError("give the faulty network a seed or a random.Random, not both")
        self._upstream_host = upstream_host
        self._upstream_port = upstream_port
        # Seeded by default too, so a test that does not choose one still sees the same resets on every run.
        self._rng = rng if rng is not None else random.Random(0 if seed is None else seed)
        # Changed only on the loop thread, so no lock: a switch is a coroutine there, never a write from the caller.
        self._mode = NetworkMode.PASS_THROUGH
        self._reset_rate = 1.0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        # The port is fixed by the first bind, so that down() and back keeps the URL tests and clients were given.
        self._port = 0
        # Counters are written on the loop thread and read from the test's: the lock keeps a snapshot consistent.
        self._counts_lock = threading.Lock()
        self._counts = ConnectionCounts()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("the faulty network is not started; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the upstream's root URL as seen through the forwarder."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def counts(self) -> ConnectionCounts:
        with self._counts_lock:
            return self._counts

    @property
    def mode(self) -> NetworkMode:
        """The mode last switched to (a read from the test's thread; switches happen on the loop)."""
        return self._mode

    def start(self) -> FaultyNetwork:
        if self._thread is not None:
            raise RuntimeError("the faulty network was already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="faulty-network", daemon=True)
        self._thread.start()
        try:
            self._call_on_loop(self._listen())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread; a no-op when not started."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                self._call_on_loop(self._shut_down())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = None
            self._thread = None

    def __enter__(self) -> FaultyNetwork:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- modes ----------------------------------------------------------------------------------------------------

    def pass_through(self) -> None:
        self._call_on_loop(self._switch(NetworkMode.PASS_THROUGH))

    def down(self) -> None:
        self._call_on_loop(self._switch(NetworkMode.DOWN))

    def reset(self, rate: float = 1.0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the reset rate is a probability in [0, 1], not {rate}")
        self._call_on_loop(self._switch(NetworkMode.RESET, reset_rate=rate))

    def hang(self) -> None:
        self._call_on_loop(self._switch(NetworkMode.HANG))

    # -- the caller's side of the thread boundary -----------------------------------------------------------------

    def _call_on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            coroutine.close()  # never scheduled; closing it avoids a "never awaited" warning
            if loop is None:
                raise RuntimeError("the faulty network is not started; call start() first")
            # Blocking the loop on a future only the loop can complete would deadlock.
            raise RuntimeError("switch modes from the test's thread, not from the faulty network's own")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout=_LOOP_CALL_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # -- on the loop: listening and switching ---------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is not None:
            return
        # asyncio sets SO_REUSEADDR, so the port binds again at once although closed connections are in TIME_WAIT.
        self._server = await asyncio.start_server(
            self._serve_connection, LOCALHOST, self._port, backlog=_LISTEN_BACKLOG
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # close() closes the listening socket there and then: from now on connecting is refused.
            server.close()
            await server.wait_closed()

    async def _switch(self, mode: NetworkMode, *, reset_rate: float = 1.0) -> None:
        self._mode = mode
        self._reset_rate = reset_rate
        if mode is NetworkMode.DOWN:
            await self._stop_listening()
            await self._end(self._connections, with_reset=False)
            return
        await self._listen()
        if mode is NetworkMode.RESET and reset_rate >= 1.0:
            existing = list(self._connections)
            self._add_counts(reset=len(existing))
            await self._end(existing, with_reset=True)
        elif mode is not NetworkMode.HANG:
            await self._end([connection for connection in self._connections if connection.hung], with_reset=False)

    async def _end(self, connections: Iterable[_Connection], *, with_reset: bool) -> None:
        """Cut the connections and wait for their tasks, so their sockets are closed when a switch returns."""
        ending = list(connections)
        for connection in ending:
            connection.cut(with_reset=with_reset)
            connection.task.cancel()
        if ending:
            await asyncio.wait([connection.task for connection in ending])

    async def _shut_down(self) -> None:
        await self._switch(NetworkMode.DOWN)
        # Connections accepted just before the listener closed have tasks that have not run yet; they see DOWN and
        # close themselves. Waiting for every task also leaves no transport open when the loop closes.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _GRACEFUL_CLOSE_TIMEOUT_SECONDS * 2
        current = asyncio.current_task()
        while others := [task for task in asyncio.all_tasks() if task is not current]:
            if loop.time() > deadline:
                raise RuntimeError(f"the faulty network's connections did not end: {others}")
            await asyncio.wait(others, timeout=deadline - loop.time())
        # Resolving a host name (an upstream given as "localhost") starts the loop's default executor.
        await loop.shutdown_default_executor()

    def _add_counts(self, *, accepted: int = 0, forwarded: int = 0, reset: int = 0, hung: int = 0) -> None:
        with self._counts_lock:
            counts = self._counts
            self._counts = ConnectionCounts(
                accepted=counts.accepted + accepted,
                forwarded=counts.forwarded + forwarded,
                reset=counts.reset + reset,
                hung=counts.hung + hung,
            )

    # -- on the loop: one connection ------------------------------------------------------------------------------

    async def _serve_connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio.start_server runs every connection in a task of its own
        connection = _Connection(client_reader, client_writer, task)
        self._connections.add(connection)
        self._add_counts(accepted=1)
        try:
            # A switch cancels the task after cutting the sockets, and a peer may vanish at any moment: either way
            # the connection is over, and the finally below closes whatever is left.
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._route(connection)
        finally:
            await self._close(connection)
            self._connections.discard(connection)

    async def _route(self, connection: _Connection) -> None:
        mode = self._mode
        if mode is NetworkMode.DOWN:
            # Accepted in the instant before the listener closed: it goes the way of every other open connection.
            return
        if mode is NetworkMode.RESET and self._rng.random() < self._reset_rate:
            self._add_counts(reset=1)
            connection.cut(with_reset=True)
            return
        if mode is NetworkMode.HANG:
            await self._hold(connection)
            return
        await self._forward(connection)

    async def _hold(self, connection: _Connection) -> None:
        """Read and discard until the client gives up; the end of the hang cancels this and closes the socket."""
        connection.hung = True
        self._add_counts(hung=1)
        # Reading keeps the client's sends from blocking on a full window, as with a server that accepted and stalled.
        while await connection.client_reader.read(_CHUNK_BYTES):
            pass

    async def _forward(self, connection: _Connection) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self._upstream_host, self._upstream_port)
        connection.upstream_writer = upstream_writer
        self._add_counts(forwarded=1)
        to_upstream = asyncio.create_task(self._relay(connection, connection.client_reader, upstream_writer))
        to_client = asyncio.create_task(self._relay(connection, upstream_reader, connection.client_writer))
        try:
            # Both directions run to their EOF; a reset on either side ends the whole connection.
            await asyncio.wait([to_upstream, to_client], return_when=asyncio.FIRST_EXCEPTION)
        finally:
            to_upstream.cancel()
            to_client.cancel()
            # Collected so that a reset's OSError is not reported as a never-retrieved task exception.
            await asyncio.gather(to_upstream, to_client, return_exceptions=True)

    async def _relay(self, connection: _Connection, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await source.read(_CHUNK_BYTES):
            if self._mode is NetworkMode.HANG or connection.hung:
                self._swallow(connection)
                continue
            sink.write(chunk)
            await sink.drain()
        # Pass a half-close on (HTTP/1.1 clients rarely send one, but a TCP forwarder must not invent a full close);
        # a hung connection delivers nothing, not even its end.
        if not connection.hung and sink.can_write_eof():
            sink.write_eof()

    def _swallow(self, connection: _Connection) -> None:
        if not connection.hung:
            connection.hung = True
            self._add_counts(hung=1)

    async def _close(self, connection: _Connection) -> None:
        """Close both sides, letting buffered bytes out first; a no-op on sides a switch already cut."""
        for writer in connection.writers():
            writer.close()
        for writer in connection.writers():
            # The peer's reset surfaces here as OSError; a peer that stopped reading is cut after the timeout.
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), _GRACEFUL_CLOSE_TIMEOUT_SECONDS)
            writer.transport.abort()
