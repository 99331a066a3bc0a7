"""A local HTTP receiver for outbound webhooks: each request takes the next behaviour of its
plan ("fail": 500, "timeout": answers after the sender gave up, "ok": 200; "ok" once the
plan is used up) and is recorded with its headers and body."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    behaviour: str


@dataclass
class Receiver:
    url: str
    plan: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    slow_seconds: float = 4.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else "ok"


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            behaviour = receiver.next_behaviour()
            with receiver.lock:
                receiver.received.append(Received(dict(self.headers), body, behaviour))
            if behaviour == "timeout":
                time.sleep(receiver.slow_seconds)
            status = 500 if behaviour == "fail" else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            except OSError:
                pass  # the sender gave up and hung up

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_port}/portal-events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
