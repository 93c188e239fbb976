"""Recently accepted request ids, for dropping QoS 1 redeliveries. Pure: time is an argument.

A QoS 1 publisher that reconnects before it saw our PUBACK sends the message again; the second
copy arrives seconds later with the same `id`. Only that is a duplicate: an id is remembered for
`window` seconds after a request with it was accepted (never after a refusal, so a corrected
retry with the same id runs), and at most `capacity` ids are kept.
"""

from __future__ import annotations

import collections
import json
from typing import Any


class RecentIds:
    """Ids accepted in the last `window` seconds (`window` 0: nothing is a duplicate)."""

    def __init__(self, window: float, capacity: int = 4096) -> None:
        self.window = window
        self.capacity = capacity
        self._accepted: collections.OrderedDict[str, float] = collections.OrderedDict()

    @staticmethod
    def _key(request_id: Any) -> str:
        return json.dumps(request_id)  # 1 and "1" are different ids

    def is_duplicate(self, request_id: Any, now: float) -> bool:
        """Whether `request_id` was accepted less than `window` seconds before `now`."""
        self._expire(now)
        return self._key(request_id) in self._accepted

    def accepted(self, request_id: Any, now: float) -> None:
        """Remember an id whose request was accepted (dispatched) at `now`."""
        if self.window <= 0:
            return
        key = self._key(request_id)
        self._accepted.pop(key, None)
        self._accepted[key] = now
        while len(self._accepted) > self.capacity:
            self._accepted.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._accepted:
            key, at = next(iter(self._accepted.items()))
            if now - at < self.window:
                return
            del self._accepted[key]
