"""The MTConnect SHDR adapter: a TCP server that MTConnect agents connect to.

One thread (`mtconnect`) does everything: accepts agents, answers `* PING` with `* PONG <ms>`,
samples every printer's snapshot each POLL_INTERVAL and sends what changed. Sockets are
non-blocking behind one selector, so a slow agent never delays the others or a printer: its
unsent output is buffered up to `max_pending` bytes (plus a fixed kernel send buffer), beyond
that it is disconnected (an agent that reconnects gets a full snapshot). At most `max_agents`
agents are served at once; more are refused. Printers never wait for this thread: it only reads
their immutable snapshots, and the bus callbacks below only count under a lock.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from mqttprint.config import MtconnectConfig
from mqttprint.integrations import shdr
from mqttprint.protocol.events import EmergencySent, JobEnded, JobOutcome, StateChanged
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.printer_service import PrinterService

log = logging.getLogger(__name__)

#: Seconds between snapshot samples (the longest a change waits before it is sent).
POLL_INTERVAL = 0.25
#: What `* PONG` announces: the agent PINGs this often (ms) and drops us after twice that.
HEARTBEAT_MS = 10000
#: Agents served at once; the thread's work and memory are bounded by this.
MAX_AGENTS = 16
#: Unsent bytes kept per agent before it counts as too slow and is disconnected.
MAX_PENDING = 256 * 1024
#: Kernel send buffer per agent (fixed, so the bound above is the whole story).
SEND_BUFFER = 64 * 1024
#: An agent line longer than this (no newline) is garbage: the agent is disconnected.
MAX_LINE = 4096
#: State changes remembered between two samples (each is sent, so a 0.1 s job still shows ACTIVE).
MAX_TRANSITIONS = 1024


@dataclass(eq=False)
class Agent:
    """One connected agent: its socket and byte buffers (adapter thread only)."""

    sock: socket.socket
    address: str
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)


class MtconnectAdapter:
    """Serves every printer of the gateway as one MTConnect device each (named by printer id)."""

    def __init__(self, config: MtconnectConfig, printers: Mapping[str, PrinterService], bus: EventBus, *,
                 poll_interval: float = POLL_INTERVAL, max_agents: int = MAX_AGENTS,
                 max_pending: int = MAX_PENDING, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.printers = printers
        self.bus = bus
        self.poll_interval = poll_interval
        self.max_agents = max_agents
        self.max_pending = max_pending
        self._clock = clock
        self._lock = threading.Lock()
        self._estop: dict[str, bool] = {pid: False for pid in printers}
        self._parts: dict[str, int] = {pid: 0 for pid in printers}
        self._last: dict[str, dict[str, shdr.Value]] = {}
        self._transitions: collections.deque[tuple[str, PrinterState]] = collections.deque(maxlen=MAX_TRANSITIONS)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._agents: dict[socket.socket, Agent] = {}
        self._selector: Optional[selectors.BaseSelector] = None
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._unsubscribe: Optional[Callable[[], None]] = None
        self.port: Optional[int] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Bind now (an "address in use" surfaces here), then serve on the `mtconnect` thread."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        try:
            listener = socket.create_server((self.config.host, self.config.port), family=family, backlog=16)
        except OSError as exc:
            raise OSError(exc.errno, f"MTConnect adapter cannot listen on {self.config.host}:{self.config.port}: "
                                     f"{exc.strerror or exc}") from None
        listener.setblocking(False)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._unsubscribe = self.bus.subscribe(self._on_bus, (EmergencySent, StateChanged, JobEnded))
        self._thread = threading.Thread(target=self._run, name="mtconnect", daemon=True)
        self._thread.start()
        log.info("MTConnect SHDR adapter on %s:%s", self.config.host, self.port)

    def stop(self) -> None:
        """Close every agent and the listener (idempotent)."""
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        elif self._selector is None:  # never started (e.g. the port was taken): nothing else to close
            self._wake_r.close()
            self._wake_w.close()

    def agent_count(self) -> int:
        return len(self._agents)

    # ------------------------------------------------------------------ bus (serial threads)
    def _on_bus(self, message: BusMessage) -> None:
        event, pid = message.event, message.printer_id
        with self._lock:
            if type(event) is EmergencySent and event.command.split()[0].upper() == "M112":
                self._estop[pid] = True
            elif type(event) is StateChanged:
                self._transitions.append((pid, event.new))
                if event.new is PrinterState.CONNECTING:
                    self._estop[pid] = False  # a fresh connection resets the firmware
            elif type(event) is JobEnded and event.outcome is JobOutcome.DONE:
                self._parts[pid] = self._parts.get(pid, 0) + 1
        if type(event) is StateChanged:
            try:  # sample now: an emergency stop or a job start reaches the agents at once
                self._wake_w.send(b"!")
            except (BlockingIOError, OSError):
                pass  # a wake-up is pending already (or the adapter is stopping)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        assert self._selector is not None
        next_poll = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_poll or self._transitions:
                    next_poll = now + self.poll_interval
                    self._sample()
                try:
                    ready = self._selector.select(max(0.0, min(self.poll_interval, next_poll - time.monotonic())))
                except OSError:
                    log.exception("MTConnect select failed")
                    self._stopping.wait(self.poll_interval)
                    continue
                for key, mask in ready:
                    if key.fileobj is self._listener:
                        self._accept()
                        continue
                    if key.fileobj is self._wake_r:
                        self._wake_r.recv(4096)
                        continue
                    agent = self._agents.get(key.fileobj)  # type: ignore[arg-type]
                    if agent is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._receive(agent)
                    if mask & selectors.EVENT_WRITE and agent.sock in self._agents:
                        self._flush(agent)
        except Exception:  # thread boundary: a bug here must not pass silently
            log.exception("MTConnect adapter stopped by an error")
        finally:
            for agent in list(self._agents.values()):
                self._drop(agent, "adapter stopping")
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _facts(self, pid: str, printer: PrinterService) -> shdr.PrinterFacts:
        snapshot = printer.snapshot()
        job_line = getattr(printer.link.engine, "job_lines_sent", None) if snapshot.job is not None else None
        with self._lock:
            return shdr.PrinterFacts(snapshot, self._estop.get(pid, False), self._parts.get(pid, 0), job_line)

    def _sample(self) -> None:
        """Send each printer's changes to every agent (and remember the values for new agents)."""
        wall = self._clock()
        out: list[str] = []
        with self._lock:
            transitions = list(self._transitions)
            self._transitions.clear()
        for pid, state in transitions:  # every state the printer went through, in order
            if pid not in self.printers:
                continue
            facts = self._facts(pid, self.printers[pid])
            passing = dataclasses.replace(facts, snapshot=dataclasses.replace(facts.snapshot, state=state))
            current = shdr.values(passing)
            out += shdr.lines(pid, current, self._last.get(pid), wall)
            self._last[pid] = current
        for pid, printer in self.printers.items():
            current = shdr.values(self._facts(pid, printer))
            out += shdr.lines(pid, current, self._last.get(pid), wall)
            self._last[pid] = current
        if out and self._agents:
            data = ("\n".join(out) + "\n").encode("utf-8")
            for agent in list(self._agents.values()):
                self._send(agent, data)

    def _accept(self) -> None:
        assert self._listener is not None and self._selector is not None
        try:
            sock, address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("MTConnect accept failed: %s", exc)
            return
        peer = f"{address[0]}:{address[1]}"
        if len(self._agents) >= self.max_agents:
            log.warning("MTConnect: refusing agent %s (%d agents connected already)", peer, len(self._agents))
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        agent = Agent(sock, peer)
        self._agents[sock] = agent
        self._selector.register(sock, selectors.EVENT_READ, None)
        log.info("MTConnect agent %s connected", peer)
        # The snapshot: every value as it is now (from the last sample, so it matches what the
        # other agents were sent; the next sample sends changes to everyone alike).
        wall = self._clock()
        snapshot = [line for pid in self.printers for line in shdr.lines(pid, self._last.get(pid) or
                                                                         shdr.values(self._facts(pid, self.printers[pid])),
                                                                         None, wall)]
        self._send(agent, ("\n".join(snapshot) + "\n").encode("utf-8"))

    def _receive(self, agent: Agent) -> None:
        try:
            data = agent.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(agent, f"receive failed: {exc}")
            return
        if not data:
            self._drop(agent, "closed by the agent")
            return
        agent.inbox += data
        while b"\n" in agent.inbox:
            raw, _, rest = bytes(agent.inbox).partition(b"\n")
            agent.inbox = bytearray(rest)
            line = raw.strip().decode("utf-8", "replace")
            if line.upper().startswith("* PING"):
                self._send(agent, f"* PONG {HEARTBEAT_MS}\n".encode("ascii"))
            elif line:
                log.debug("MTConnect agent %s said %r (ignored)", agent.address, line[:200])
            if agent.sock not in self._agents:
                return
        if len(agent.inbox) > MAX_LINE:
            self._drop(agent, "line too long")

    def _send(self, agent: Agent, data: bytes) -> None:
        """Queue and write what the socket takes now; the rest waits for EVENT_WRITE."""
        agent.outbox += data
        if len(agent.outbox) > self.max_pending:
            self._drop(agent, f"too slow: more than {self.max_pending} bytes unsent")
            return
        self._flush(agent)

    def _flush(self, agent: Agent) -> None:
        assert self._selector is not None
        while agent.outbox:
            try:
                sent = agent.sock.send(agent.outbox)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._drop(agent, f"send failed: {exc}")
                return
            del agent.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if agent.outbox else 0)
        self._selector.modify(agent.sock, events, None)

    def _drop(self, agent: Agent, reason: str) -> None:
        if self._agents.pop(agent.sock, None) is None:
            return
        log.info("MTConnect agent %s disconnected: %s", agent.address, reason)
        assert self._selector is not None
        try:
            self._selector.unregister(agent.sock)
        except (KeyError, ValueError):
            pass
        agent.sock.close()
