"""Resumable HTTP downloads into a partial file (used by the model registry and ``tbvar-train``).

:func:`download_to` completes a partial file from a URL:

* bytes already in the file are kept and the rest is asked for with an HTTP ``Range`` request;
  a server that ignores ranges (answers 200) or resumes at another offset makes the transfer
  start again from byte 0, and a ``416`` for a file that already holds the whole resource
  counts as complete;
* a transfer that ends short of ``Content-Length``, or is reset or times out, is resumed up to
  ``retries`` times, with a growing pause;
* an HTML answer holding a GET form (a download-confirmation page such as Google Drive's
  "can't scan this file for viruses" page for large files) is followed at most
  :data:`MAX_FORMS` times; any other web page is an error.

On failure :class:`DownloadError` is raised and the partial file keeps what arrived; whether
to keep it for a later resume or delete it is the caller's decision.
"""

from __future__ import annotations

import http.client
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from tbvar.errors import DownloadError, OfflineError
from tbvar.version import __version__

RETRIES = 3
RETRY_DELAY_S = 1.0
TIMEOUT_S = 60.0
CHUNK = 1 << 20
MAX_FORMS = 2

_TRANSIENT = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, TimeoutError)
Progress = Callable[[int, "int | None"], None]
"""``progress(bytes_in_file, total_bytes_or_None)``, called after every block received."""


class ProgressBar:
    """A :data:`Progress` callback drawing a tqdm byte counter on stderr; a context manager.

    ``enabled=None`` draws only when stderr is a terminal. The bar appears with the first
    block, so nothing is drawn when nothing is downloaded.
    """

    def __init__(self, description: str = "download", enabled: bool | None = None) -> None:
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                             desc=self.description)
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self._bar is not None:
            self._bar.close()


class _Interrupted(Exception):
    """A transfer stopped early (retried)."""


class _FollowForm(Exception):
    """The server answered with a download-confirmation form; fetch ``url`` instead."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class _ConfirmationForm(HTMLParser):
    """The first GET form of a page with its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if (tag == "form" and self.action is None and attributes.get("action")
                and (attributes.get("method") or "get").lower() == "get"):
            self.action, self._inside = attributes["action"], True
        elif (tag == "input" and self._inside and attributes.get("type") == "hidden"
              and attributes.get("name")):
            self.fields.append((str(attributes["name"]), attributes.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _confirmation_url(url: str, page: bytes) -> str | None:
    form = _ConfirmationForm()
    form.feed(page.decode("utf-8", "replace"))
    if form.action is None:
        return None
    target = urllib.parse.urljoin(url, form.action)
    return f"{target}?{urllib.parse.urlencode(form.fields)}" if form.fields else target


def _range_total(value: str | None) -> int | None:
    """``TOTAL`` of a ``Content-Range: bytes a-b/TOTAL`` (or ``bytes */TOTAL``) header."""
    match = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _expected_total(response: http.client.HTTPResponse, start: int) -> int | None:
    if response.status == 206:
        return _range_total(response.headers.get("Content-Range"))
    length = response.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _transfer(url: str, part: Path, timeout: float, progress: Progress | None) -> None:
    """One request: append to ``part`` (resume) or rewrite it; raise ``_Interrupted`` if short."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"tbvar/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and _range_total(exc.headers.get("Content-Range")) == have:
            return  # the partial file already holds the whole resource
        raise
    with response:
        if response.headers.get_content_type() == "text/html":
            follow = _confirmation_url(url, response.read(CHUNK))
            if follow:
                raise _FollowForm(follow)
            raise DownloadError(f"{url} returned a web page instead of the file (a sign-in "
                                "page, or the link has moved)")
        resumed = have and response.status == 206 and (
            _range_start(response.headers.get("Content-Range")) == have)
        if have and response.status == 206 and not resumed:
            part.write_bytes(b"")
            raise _Interrupted("the server resumed at another offset")
        start = have if resumed else 0  # the server ignored the range: start again cleanly
        total = _expected_total(response, start)
        with open(part, "ab" if resumed else "wb") as out:
            done = start
            while block := response.read(CHUNK):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise _Interrupted(f"got {done} of {total} bytes")


def download_to(url: str, part: str | Path, *, retries: int = RETRIES,
                timeout: float = TIMEOUT_S, progress: Progress | None = None) -> None:
    """Complete the partial file ``part`` (created if missing) with the resource at ``url``.

    Parameters
    ----------
    url
        HTTP(S) or ``file:`` URL.
    part
        The file to resume; on success it holds the whole resource.
    retries
        How many times an interrupted transfer is resumed before giving up.
    timeout
        Socket timeout per request, seconds.
    progress
        Called as ``progress(bytes_in_file, total_or_None)`` after every block.

    Raises
    ------
    DownloadError
        The URL cannot be reached, answers with an HTTP error or a web page, or the transfer
        was interrupted more than ``retries`` times. ``part`` keeps what arrived.
    """
    part = Path(part)
    failures = forms = 0
    while True:
        try:
            _transfer(url, part, timeout, progress)
            return
        except _FollowForm as form:
            forms += 1
            if forms > MAX_FORMS:
                raise DownloadError(f"{url} returned a web page instead of the file "
                                    f"(still after {MAX_FORMS} confirmation forms)") from None
            url = form.url
            part.write_bytes(b"")
            continue
        except urllib.error.HTTPError as exc:
            if exc.code != 416:  # 416: bad resume offset, start again below
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            part.write_bytes(b"")
            error: Exception = exc
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, _TRANSIENT):
                raise OfflineError(f"cannot reach {url} ({exc.reason}); are you offline?"
                                   ) from None
            error = exc
        except (_Interrupted, http.client.HTTPException, *_TRANSIENT) as exc:
            error = exc
        failures += 1
        if failures > retries:
            have = part.stat().st_size if part.exists() else 0
            times = f"{failures} time{'s' if failures > 1 else ''}"
            raise DownloadError(f"{url}: download interrupted {times}, the last at {have} "
                                f"bytes ({type(error).__name__}: {error})")
        time.sleep(RETRY_DELAY_S * failures)
