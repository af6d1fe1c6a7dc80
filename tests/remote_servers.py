"""Local stand-ins for remote stores: a static HTTP server and a moto S3 server on 127.0.0.1.

Both are plain context managers with no pytest dependency, so the benchmarks use them too
(`benchmarks/remote_open.py`); the pytest fixtures are in `tests/conftest.py`.

`StaticHTTPServer` serves a folder read-only, like a static file host (nginx, S3 website,
GitHub pages): GET and HEAD, single byte ranges (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``,
answered 206 as fsspec's HTTP file system and zarr's sharded reads need), a fixed ``latency``
before every answer (requests overlap: one thread per connection), and a log of every request.
It can be told to fail: ``failing`` (every request answers 500, or drops the connection),
``fail_after`` (the same after that many requests), ``deny`` (403) and ``not_found`` (404 for
paths under given prefixes).

`MotoS3Server` runs moto's S3 in a thread: buckets, uploads of a local store, key listings and
the environment variables that point boto3 / s3fs / aiobotocore at it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["MotoS3Server", "Request", "StaticHTTPServer"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Request(NamedTuple):
    """One request the HTTP server answered: method, URL path (unquoted, no query), status.

    ``status`` is 0 when the server dropped the connection without an answer.
    """

    method: str
    path: str
    status: int


class _Handler(SimpleHTTPRequestHandler):
    """Serves the server's root read-only; applies its latency and failure modes; logs."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests go to the server's log, not to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Record every answer, errors included (``send_response`` calls this)."""
        status = code.value if isinstance(code, HTTPStatus) else int(code)
        self.server.owner._record(self.command, self.path, status)

    def end_headers(self) -> None:
        if self.server.owner.ranges:
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def do_GET(self) -> None:
        if self._before():
            self._answer(head=False)

    def do_HEAD(self) -> None:
        if self._before():
            self._answer(head=True)

    def _before(self) -> bool:
        """Wait the latency, then answer a failure if one applies; True to serve normally."""
        owner = self.server.owner
        with owner._in_flight():
            if owner.latency > 0:
                time.sleep(owner.latency)
        failure = owner._failure(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        if failure is None:
            return True
        if failure == 0:  # drop the connection without a word
            owner._record(self.command, self.path, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return False
        self.send_error(failure)
        return False

    def _answer(self, head: bool) -> None:
        """Serve a file, a byte range of it, or a directory listing."""
        spec = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not spec or not self.server.owner.ranges or not path.is_file():
            if head:
                super().do_HEAD()
            else:
                super().do_GET()
            return
        size = path.stat().st_size
        match = _RANGE.match(spec.strip())
        if match is None or match.groups() == ("", ""):
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "bad range")
            return
        first, last = match.groups()
        if first == "":  # the last n bytes
            start, stop = max(size - int(last), 0), size
        else:
            start = int(first)
            stop = size if last == "" else min(int(last) + 1, size)
        if start >= size or stop <= start:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with path.open("rb") as file:
            file.seek(start)
            body = file.read(stop - start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a client opening more connections at once
    # has the rest dropped and retried by TCP a second later, which no real server does.
    request_queue_size = 128
    owner: StaticHTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up (the failure modes and cancelled reads do that)."""


class StaticHTTPServer:
    """Serve a folder read-only over HTTP on 127.0.0.1, in a thread, with a request log.

    Parameters
    ----------
    root : Path
        The folder served; ``url + "/a/b"`` is ``root / "a" / "b"``.
    latency : float
        Seconds every request waits before it is answered. Requests are served on their own
        threads, so concurrent requests wait side by side.
    fail_after : int, optional
        Answer this many requests normally, then fail every later one (see ``failing``).
    fail_status : int or None
        How a failing request is answered: an HTTP status (500), or None to close the
        connection without an answer.
    not_found : iterable of str
        URL path prefixes (such as ``"/image.zarr/labels"``) answered 404.
    deny : bool
        Answer every request 403 (as a private bucket would an anonymous reader).
    missing_status : int
        The answer for a file that is not there: 404, or 403 as S3 gives a reader who may read
        objects but not list the bucket.
    ranges : bool
        Honour ``Range`` headers (206). False serves whole files as
        ``SimpleHTTPRequestHandler`` does, like a server without range support.

    Attributes
    ----------
    failing, deny, not_found, latency, ranges
        Settable while the server runs.
    peak_concurrency : int
        The most requests that were waiting out their latency at the same time (shows that
        a client's requests overlapped); `clear` resets it.
    """

    def __init__(
        self,
        root: Path | str,
        latency: float = 0.0,
        *,
        fail_after: int | None = None,
        fail_status: int | None = 500,
        not_found: Iterable[str] = (),
        deny: bool = False,
        ranges: bool = True,
        missing_status: int = 404,
    ) -> None:
        self.root = Path(root)
        self.latency = float(latency)
        self.fail_after = fail_after
        self.fail_status = fail_status
        self.not_found = tuple(not_found)
        self.deny = deny
        self.ranges = ranges
        self.missing_status = missing_status
        self.failing = False
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._answered = 0
        self._busy = 0
        self.peak_concurrency = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> StaticHTTPServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        if not self.root.is_dir():
            raise FileNotFoundError(f"Cannot serve {self.root}: it is not a folder.")
        handler = partial(_Handler, directory=str(self.root))
        server = _Server(("127.0.0.1", 0), handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"StaticHTTPServer:{server.server_address[1]}",
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StaticHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and the log ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port served on; the server must be started."""
        if self._server is None:
            raise RuntimeError("The server is not running; call start() or use it in a with.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, relative: str | Path) -> str:
        """The URL of a path relative to ``root`` (a ``Path`` under ``root`` works too)."""
        rel = Path(relative)
        if rel.is_absolute():
            rel = rel.relative_to(self.root)
        return f"{self.url}/{urllib.parse.quote(rel.as_posix())}"

    @property
    def requests(self) -> list[Request]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Empty the request log and reset `peak_concurrency` (``fail_after`` keeps counting)."""
        with self._lock:
            self._log.clear()
            self.peak_concurrency = self._busy

    def count(self, method: str | None = None, status: int | None = None) -> int:
        """How many logged requests have this method and/or status."""
        return sum(
            (method is None or r.method == method) and (status is None or r.status == status)
            for r in self.requests
        )

    # --- internals ----------------------------------------------------------------------------

    def _record(self, method: str, raw_path: str, status: int) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        with self._lock:
            self._log.append(Request(method, path, status))

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Count a request as waiting; `peak_concurrency` keeps the most at once."""
        with self._lock:
            self._busy += 1
            self.peak_concurrency = max(self.peak_concurrency, self._busy)
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    def _failure(self, path: str) -> int | None:
        """The status to answer instead of serving (0: drop the connection), or None."""
        with self._lock:
            self._answered += 1
            over = self.fail_after is not None and self._answered > self.fail_after
        if self.failing or over:
            return 0 if self.fail_status is None else int(self.fail_status)
        if self.deny:
            return int(HTTPStatus.FORBIDDEN)
        for prefix in self.not_found:
            stem = "/" + prefix.strip("/")
            if path == stem or path.startswith(stem + "/"):
                return int(HTTPStatus.NOT_FOUND)
        if self.missing_status != 404 and not (self.root / path.lstrip("/")).exists():
            return int(self.missing_status)
        return None


# --- S3 ---------------------------------------------------------------------------------------

FAKE_KEY_ID = "testing-key-id"
FAKE_SECRET = "testing-secret"  # moto accepts any credentials


class MotoS3Server:
    """moto's S3 served from a thread on 127.0.0.1, for s3:// reads and writes in tests.

    Buckets live in moto's in-process backend, shared by every server in this process: give
    each test its own bucket name. moto does not check signatures, so any credentials work.
    Of anonymous (unsigned) requests, moto 5.2 refuses reads (GET, HEAD) of the objects of a
    bucket without a public policy (403); it lets anyone list a bucket and put new keys
    (see `make_bucket`).
    """

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> MotoS3Server:
        """Start the server on a free port; returns self."""
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request to stderr at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, aiobotocore and s3fs at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """Set `env` in ``os.environ`` for the duration of a with block (not thread-safe)."""
        saved = {name: os.environ.get(name) for name in self.env()}
        os.environ.update(self.env())
        try:
            yield self.env()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def client(self) -> Any:
        """A boto3 S3 client for this server with the fake credentials."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET,
        )  # fmt: skip

    def buckets(self) -> list[str]:
        """The names of the buckets on this server."""
        return [bucket["Name"] for bucket in self.client().list_buckets().get("Buckets", [])]

    def make_bucket(self, name: str, public: bool = False) -> str:
        """Create a bucket; ``public`` adds a policy letting anyone get and list its objects.

        moto honours the policy for objects: an anonymous reader gets (GET and HEAD) the
        objects of a public bucket and 403 from a private one. It does not check listings
        (anyone may list any bucket) nor anonymous writes of new keys.

        Returns
        -------
        str
            ``s3://<name>``.
        """
        client = self.client()
        client.create_bucket(Bucket=name)
        if public:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        # moto checks a HEAD as "s3:HeadObject" (AWS: s3:GetObject) and
                        # would refuse an anonymous HEAD without it; AWS has no such action.
                        "Action": ["s3:GetObject", "s3:HeadObject"],
                        "Resource": [f"arn:aws:s3:::{name}/*"],
                    },
                    {
                        "Sid": "PublicList",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{name}"],
                    },
                ],
            }
            client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return f"s3://{name}"

    def upload_dir(self, local: Path | str, bucket: str, prefix: str) -> list[str]:
        """Put every file under ``local`` into ``bucket`` at ``prefix/<relative path>``.

        Returns
        -------
        list of str
            The keys written, sorted.
        """
        local = Path(local)
        if not local.is_dir():
            raise FileNotFoundError(f"Cannot upload {local}: it is not a folder.")
        client = self.client()
        stem = prefix.strip("/")
        keys = []
        for file in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = file.relative_to(local).as_posix()
            key = f"{stem}/{rel}" if stem else rel
            client.put_object(Bucket=bucket, Key=key, Body=file.read_bytes())
            keys.append(key)
        return keys

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` starting with ``prefix``, sorted."""
        client = self.client()
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", ()))
        return sorted(found)
