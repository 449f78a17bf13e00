"""``mixenv listen serve``: a small local web server for a listening test: the page, its stimuli, and POST /submit.

It sends only the page, test.json and the stimuli test.json lists (never key.json, which would tell listeners which
condition is which method, nor ratings.jsonl); nothing else in the folder is reachable, whatever the URL. Each valid
submission is appended to ratings.jsonl as one line under a lock (threads) and an exclusive file lock (other
processes), flushed and fsynced before the listener is thanked: concurrent listeners never lose or interleave lines,
and a listener id already in the file is refused rather than recorded twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mixenv.listen.layout import PAGE_FILES, PRIVATE_FILES, RATINGS_FILE, TEST_FILE, page_conditions, read_test
from mixenv.listen.submission import SubmissionError, check_submission

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
"""A submission of 11 ratings on each of dozens of pages is a few kilobytes; anything far bigger is not one."""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wav": "audio/wav",
}


class DuplicateListenerError(SubmissionError):
    """A listener id that already submitted: recording it again would mix two people's ratings (or count one twice)."""


class ListenServer(ThreadingHTTPServer):
    """Serves one test folder; :meth:`record` appends a checked submission to its ratings.jsonl."""

    daemon_threads = True

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.folder = folder
        test = read_test(folder)
        self.pages = page_conditions(test)
        files = [*PAGE_FILES, TEST_FILE]
        files += [page["reference"] for page in test["pages"]]
        files += [c["file"] for page in test["pages"] for c in page["conditions"]]
        self.public = {f"/{name}": folder / name for name in files} | {"/": folder / "index.html"}
        self.ratings = folder / RATINGS_FILE
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The address the server listens on, as a listener's browser would open it."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def record(self, payload: Any) -> dict[str, Any]:
        """Check ``payload`` against the test and append it to ratings.jsonl; returns the line's record.

        Raises:
            SubmissionError: If it does not answer the test.
            DuplicateListenerError: If its listener id already submitted.
        """
        record = {**check_submission(payload, self.pages), "received": datetime.now(UTC).isoformat(timespec="seconds")}
        with self._lock, open(self.ratings, "a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            file.seek(0)
            if record["listener"].casefold() in _listeners(file.read()):
                raise DuplicateListenerError(
                    f"listener id {record['listener']!r} has already submitted; if that was someone else, choose "
                    "another id (your ratings are still on the page: change the id and submit again)"
                )
            file.write(json.dumps(record, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())
        return record


def lan_address() -> str:
    """This machine's address on its local network, as another machine's browser would open it (else its name)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing: it only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def _listeners(text: str) -> set[str]:
    """The listener ids in ratings.jsonl's text, case-folded (lines that are not JSON are the analysis's concern)."""
    ids = set()
    for line in text.splitlines():
        try:
            ids.add(str(json.loads(line).get("listener", "")).casefold())
        except (json.JSONDecodeError, AttributeError):
            continue
    return ids


class _Handler(BaseHTTPRequestHandler):
    server: ListenServer
    server_version = "mixenv-listen"

    def do_GET(self) -> None:
        self._send_file(head=False)

    def do_HEAD(self) -> None:
        self._send_file(head=True)

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/submit":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"POST goes to /submit, not {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reject(HTTPStatus.LENGTH_REQUIRED, "a submission needs a Content-Length header")
            return
        if not 0 < length <= MAX_BODY_BYTES:
            self._reject(HTTPStatus.BAD_REQUEST, f"a submission must be 1 to {MAX_BODY_BYTES} bytes, got {length}")
            return
        try:
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self._reject(HTTPStatus.BAD_REQUEST, f"a submission must be JSON ({err})")
            return
        try:
            record = self.server.record(payload)
        except DuplicateListenerError as err:
            self._reject(HTTPStatus.CONFLICT, str(err))
            return
        except SubmissionError as err:
            self._reject(HTTPStatus.BAD_REQUEST, str(err))
            return
        log.info("saved the ratings of listener %r to %s", record["listener"], self.server.ratings)
        self._reply(HTTPStatus.OK, {"saved": True})

    def _send_file(self, head: bool) -> None:
        path = self.path.split("?")[0].split("#")[0]
        file = self.server.public.get(path)
        if file is None:
            private = path.lstrip("/") in PRIVATE_FILES
            status = HTTPStatus.FORBIDDEN if private else HTTPStatus.NOT_FOUND
            self._reply(status, {"error": f"{path} is {'private' if private else 'not part of this test'}"})
            return
        body = file.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPES.get(file.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _reject(self, status: HTTPStatus, message: str) -> None:
        log.warning("refused a submission from %s: %s", self.client_address[0], message)
        self._reply(status, {"error": message})

    def _reply(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Every request at DEBUG (``mixenv -v listen serve``), not on stderr by default."""
        log.debug("%s %s", self.client_address[0], format % args)
