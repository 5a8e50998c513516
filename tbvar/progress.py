"""Progress of a long run: a tqdm bar on a terminal, a plain line every few seconds in a log.

A batch job's stderr is a file, where a redrawn bar is noise and nothing shows until the end;
there :class:`Progress` writes one line every ``interval`` seconds (and one at the end) with the
count, the share of the total and an estimate of the time left when the total is known.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts work units and shows progress.

    Parameters
    ----------
    total
        Units expected (``None``: unknown, no percentage or ETA).
    enabled
        Show anything at all.
    interval
        Seconds between lines when ``stream`` is not a terminal.
    desc, unit
        What is counted, e.g. ``"tbvar score"`` and ``"records"``.
    stream
        Where to write (standard error by default).
    """

    def __init__(self, total: int | None = None, enabled: bool = True, interval: float = 30.0,
                 desc: str = "tbvar", unit: str = "records", stream: TextIO | None = None
                 ) -> None:
        self.total, self.enabled, self.interval = total, enabled, interval
        self.desc, self.unit = desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = self._shown = 0
        self._start = self._last = time.monotonic()
        self._bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {unit}", desc=desc, file=self.stream)

    def update(self, n: int) -> None:
        """Count ``n`` more units."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and time.monotonic() - self._last >= self.interval:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self._last, self._shown = now, self.done
        rate = self.done / max(now - self._start, 1e-9)
        text = f"{self.desc}: {self.done:,}"
        if self.total:
            text += f" of {self.total:,} {self.unit} ({100 * self.done / self.total:.0f} %)"
            left = max(self.total - self.done, 0) / rate if rate > 0 else 0
            text += f", {rate:,.0f} {self.unit}/s, ETA {_clock(left)}"
        else:
            text += f" {self.unit}, {rate:,.0f} {self.unit}/s"
        print(text, file=self.stream, flush=True)

    def close(self, finished: bool = True) -> None:
        """Finish: close the bar, or write the last line (not when the run did not finish:
        then its error is the last word)."""
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and finished and self.done != self._shown:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(finished=kind is None)
