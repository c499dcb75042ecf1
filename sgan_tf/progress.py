"""Progress of every loop that can take more than a few seconds: one home for how it is shown.

On a terminal (stderr is a TTY) a tqdm bar with the count, rate and ETA; otherwise (logs,
CI, `nohup`) a plain absl log line at most every `PLAIN_EVERY_S` seconds and at the end, with
the same count, rate and ETA, so a long quiet step never looks like a hang.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from absl import logging

T = TypeVar("T")
PLAIN_EVERY_S = 30.0


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts work done towards `total`; `update(n)` after each piece, `close()` at the end."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", initial: int = 0,
                 terminal: bool | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = self.start_count = initial
        self.start = self._last = time.perf_counter()
        self._bar = None
        if sys.stderr.isatty() if terminal is None else terminal:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=True)

    def line(self) -> str:
        """'desc: done/total unit (rate unit/s, ETA m:ss)'."""
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.start_count) / elapsed if elapsed > 0 else 0.0
        text = f"{self.desc}: {self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        text += f" ({rate:.3g} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_eta((self.total - self.done) / rate)}"
        return text + ")"

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.done += n
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= PLAIN_EVERY_S or (self.total and self.done >= self.total):
            self._last = now
            logging.info("%s%s", self.line(), f"  {postfix}" if postfix else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Yields `items`, showing their progress (see the module docstring)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = Progress(total, desc, unit)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
