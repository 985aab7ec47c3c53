"""A fault-injecting HTTP proxy in front of an S3 endpoint, for tests (standard library only).

The proxy listens on 127.0.0.1 and forwards every request to the upstream endpoint (moto), so
it is just another ``endpoint_url``: the test process, a job run as a subprocess and the worker
processes of its LocalCluster all reach it. Rules, set and changed while requests flow, make
matching requests fail the way S3 and networks fail:

``"slowdown"``
    HTTP 503 with S3's ``SlowDown`` XML error body; the request is not forwarded.
``"internal-error"``
    HTTP 500 with S3's ``InternalError`` XML error body; the request is not forwarded.
``"drop"``
    The connection is closed without a response; the request is not forwarded.
``"drop-after"``
    The request is forwarded (S3 did it), then the connection is closed without a response.
``"truncate"``
    The request is forwarded and the response sent with its full ``Content-Length`` but only
    half of its body, then the connection is closed.

Example
-------
>>> with FaultProxy(moto_url) as proxy:  # doctest: +SKIP
...     rule = proxy.inject("slowdown", methods="GET", path=".parquet", times=2)
...     ...  # use proxy.url as the endpoint
...     assert rule.hits == 2
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("slowdown", "internal-error", "drop", "drop-after", "truncate")
_ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal-error": (500, "InternalError", "We encountered an internal error. Please try again."),
}
# Hop-by-hop headers are the proxy's own; Expect is answered here (100 Continue), not upstream.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-connection", "expect", "te", "upgrade"}


@dataclass
class Rule:
    """Which requests fail, how, and how often.

    Attributes
    ----------
    fault : str
        One of :data:`FAULTS`.
    methods : frozenset of str or None
        HTTP methods that match (None: any).
    path : str or None
        A substring of the request target (path and query) that must occur (None: any).
    copies : bool or None
        True: only server-side copies (``x-amz-copy-source``) match; False: only other
        requests; None: both. Tells a publish's moves and rollbacks from its new writes.
    times : int or None
        How many matching requests fail; None: every one, until the rule is removed.
    hits : int
        Requests this rule has failed so far.
    seen : list of str
        ``"METHOD target"`` of each request it failed.
    """

    fault: str
    methods: frozenset | None = None
    path: str | None = None
    copies: bool | None = None
    times: int | None = None
    hits: int = 0
    seen: list = field(default_factory=list)

    def matches(self, method: str, target: str, is_copy: bool) -> bool:
        return ((self.methods is None or method in self.methods)
                and (self.path is None or self.path in target)
                and (self.copies is None or self.copies == is_copy)
                and (self.times is None or self.hits < self.times))


class FaultProxy:
    """Forward HTTP requests to ``upstream``, failing those that match a rule.

    Parameters
    ----------
    upstream : str
        ``http://host:port`` of the real endpoint.

    Attributes
    ----------
    forwarded : collections.Counter
        Requests forwarded upstream without a fault, by method.
    injected : collections.Counter
        Faults injected since the proxy started, by kind (rules removed included).
    """

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port or 80)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.forwarded: Counter = Counter()
        self.injected: Counter = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="s3-fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint to give clients."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def inject(self, fault: str, *, methods=None, path: str | None = None,
               copies: bool | None = None, times: int | None = None) -> Rule:
        """Add a rule; the first rule that matches a request decides its fate.

        Parameters
        ----------
        fault : str
            One of :data:`FAULTS`.
        methods : str or iterable of str, optional
            ``"GET"``, ``("PUT", "POST")``, ...; default any method.
        path : str, optional
            Substring of the request target, e.g. ``".parquet"``, ``"uploadId="``.
        copies : bool, optional
            Only server-side copies (True) or only other requests (False); default both.
        times : int, optional
            Fail the next ``times`` matching requests; default every matching request.

        Returns
        -------
        Rule
            Its ``hits`` count the requests it failed.
        """
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}; got {fault!r}")
        if isinstance(methods, str):
            methods = (methods,)
        rule = Rule(fault, None if methods is None else frozenset(m.upper() for m in methods),
                    path, copies, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (their hit counts stay readable on the rules)."""
        with self._lock:
            self._rules.clear()

    def _decide(self, method: str, target: str, is_copy: bool) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, target, is_copy):
                    rule.hits += 1
                    rule.seen.append(f"{method} {target}")
                    self.injected[rule.fault] += 1
                    return rule.fault
            self.forwarded[method] += 1
            return None

    def _forward(self, method: str, target: str, headers, body: bytes):
        conn = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _NOT_FORWARDED:
                    conn.putheader(name, value)
            conn.endheaders()
            if body:
                conn.send(body)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            conn.close()


def _error_body(code: str, message: str, target: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><Resource>{target.split('?')[0]}</Resource>"
            "<RequestId>FAULTPROXY</RequestId></Error>").encode()


def _handler_for(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real clients use S3
        timeout = 60

        def log_message(self, *args) -> None:
            pass

        def _read_body(self) -> bytes:
            """The request body as sent (a chunked body stays chunked, byte for byte)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raw = bytearray()
                while True:
                    line = self.rfile.readline()
                    raw += line
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:  # trailers, up to the empty line
                            trailer = self.rfile.readline()
                            raw += trailer
                            if trailer in (b"\r\n", b"\n", b""):
                                return bytes(raw)
                    raw += self.rfile.read(size + 2)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _drop(self) -> None:
            self.close_connection = True
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _handle(self) -> None:
            method, target = self.command, self.path
            body = self._read_body()
            fault = proxy._decide(method, target, "x-amz-copy-source" in self.headers)
            if fault == "drop":
                return self._drop()
            if fault in _ERRORS:
                status, code, message = _ERRORS[fault]
                data = _error_body(code, message, target)
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":  # a body after a HEAD answer would corrupt the stream
                    self.wfile.write(data)
                return None
            status, reason, headers, data = proxy._forward(method, target, self.headers, body)
            if fault == "drop-after":
                return self._drop()
            self.send_response_only(status, reason)
            for name, value in headers:
                if name.lower() not in _NOT_FORWARDED | {"transfer-encoding", "content-length"}:
                    self.send_header(name, value)
            length = dict((k.lower(), v) for k, v in headers).get("content-length")
            # HEAD answers carry the object's length and no body
            self.send_header("Content-Length", length if method == "HEAD" and length
                             else str(len(data)))
            self.end_headers()
            if fault == "truncate":
                self.wfile.write(data[: len(data) // 2])
                return self._drop()
            if method != "HEAD":
                self.wfile.write(data)
            return None

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    return Handler
