"""Request lanes: per-printer order and isolation without a thread per printer.

A lane is one ordered stream of requests (a printer's requests, its emergencies, the system
commands). Items of one lane run one at a time in arrival order; different lanes run in parallel.
Workers are started on demand, one more whenever a lane is ready and no worker is idle (so a lane
never waits behind another lane's slow request: a printer's `connect` may block for seconds), up
to one per lane, and a worker idle for `idle_timeout` seconds ends (down to `keep` warm ones). At
rest the gateway holds `keep` workers, however many printers it serves; under load it holds one per
lane that is busy at that moment.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable, Generic, Hashable, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class LanePool(Generic[Item]):
    """Runs `handle(item)` for submitted items, in order within a lane, lanes in parallel."""

    def __init__(self, name: str, handle: Callable[[Item], None], *, capacity: int, max_workers: int,
                 keep: int = 1, idle_timeout: float = 30.0) -> None:
        """`capacity`: items a lane may hold waiting (beyond the one running); `max_workers`: at
        most this many threads (the number of lanes keeps every lane independent)."""
        self.name = name
        self._handle = handle
        self.capacity = capacity
        self.max_workers = max(1, max_workers)
        self.keep = min(keep, self.max_workers)
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._waiting: dict[Hashable, deque[Item]] = {}
        self._ready: deque[Hashable] = deque()  # lanes with waiting items, none of them running
        self._busy: set[Hashable] = set()  # lanes in _ready or running
        self._workers = 0
        self._idle = 0
        self._starting = 0  # spawned, not yet looking for work: each will take a ready lane
        self._serial = 0
        self._started = False
        self._stopping = False

    def start(self) -> None:
        """Start the warm workers; before this, items only queue."""
        with self._lock:
            self._started = True
            for _ in range(self.keep - self._workers):
                self._spawn()

    def submit(self, lane: Hashable, item: Item, *, urgent: bool = False) -> bool:
        """Queue `item` on `lane`; False (nothing queued) when the lane already holds `capacity`
        waiting items or the pool stopped. `urgent` lanes go to the front of the ready ones."""
        with self._lock:
            if self._stopping:
                return False
            waiting = self._waiting.setdefault(lane, deque())
            if len(waiting) >= self.capacity:
                return False
            waiting.append(item)
            if lane not in self._busy:
                self._busy.add(lane)
                (self._ready.appendleft if urgent else self._ready.append)(lane)
                if (self._started and len(self._ready) > self._idle + self._starting
                        and self._workers < self.max_workers):
                    self._spawn()
                else:
                    self._work.notify()
        return True

    def threads(self) -> int:
        """Workers alive now (for tests and the thread picture)."""
        with self._lock:
            return self._workers

    def alive(self) -> bool:
        """False when lanes wait and no worker exists to run them (never expected; the watchdog asks)."""
        with self._lock:
            return self._stopping or not self._started or self._workers > 0 or not self._ready

    def stop(self) -> None:
        """Refuse new items; workers end once the lanes are empty (daemon threads: the process
        does not wait for them)."""
        with self._lock:
            self._stopping = True
            self._work.notify_all()

    # ------------------------------------------------------------------ workers
    def _spawn(self) -> None:
        """Start one worker (lock held)."""
        self._workers += 1
        self._starting += 1
        self._serial += 1
        threading.Thread(target=self._run, name=f"{self.name}-{self._serial}", daemon=True).start()

    def _run(self) -> None:
        # Each locked step both settles what this worker just did and takes its next lane, so a
        # submit never sees it as neither busy nor idle (which would start one worker too many).
        with self._lock:
            self._starting -= 1
            work = self._take()
        while work is not None:
            lane, item = work
            try:
                self._handle(item)
            except Exception:  # thread boundary: one bad item must not end the worker
                log.exception("%s: handling an item of lane %r failed", self.name, lane)
            with self._lock:
                if self._waiting[lane]:
                    self._ready.append(lane)  # behind the other ready lanes: round robin
                else:
                    self._busy.discard(lane)
                    del self._waiting[lane]
                work = self._take()

    def _take(self) -> tuple[Hashable, Item] | None:
        """The next lane and its oldest item, waiting for one; None (and this worker no longer
        counted) when the worker should end (lock held)."""
        lane = self._next_lane()
        if lane is None:
            self._workers -= 1
            return None
        return lane, self._waiting[lane].popleft()

    def _next_lane(self) -> Hashable | None:
        """The next ready lane, waiting for one; None when this worker should end (lock held)."""
        while not self._ready:
            if self._stopping:
                return None
            self._idle += 1
            signalled = self._work.wait(self.idle_timeout)
            self._idle -= 1
            if not signalled and not self._ready and self._workers > self.keep:
                return None
        return self._ready.popleft()
