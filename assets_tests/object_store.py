"""A real S3-compatible object store for the tests: moto's S3 server, one per session (and xdist worker).

It runs in a process of its own (in a thread of the test process it would deadlock: delta-rs holds
the GIL in some calls, `is_deltatable` among them, while it waits for the server's answer), and
listens on a free local port; the standard AWS variables point delta-rs, Polars and s3fs at it
for the rest of the session, with throw-away credentials. Each test takes a bucket of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

# moto's S3 application served alone, without `moto_server`'s dispatcher to all its services: that
# dispatcher lists moto's ~180 service folders and tries their URL patterns, under one lock, twice per
# request, and logs every request; it was about half of moto's CPU (~30 ms of ~50 per table open,
# measured with 100 opens of a 10-commit table), and a whole build on the store opens ~1,000 tables.
S3_SERVER = textwrap.dedent(
    """
    import logging, sys
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_backend_app("s3")
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
    """
)

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "lakehouse-test", "AWS_SECRET_ACCESS_KEY": "lakehouse-test-secret"}

# A TCP relay to the store that goes down (exits, dropping every connection; then nothing listens)
# when a request holds `marker`: an outage at a known point, while the store keeps its data.
RELAY = textwrap.dedent(
    """
    import os, socket, sys, threading

    port, target, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()

    def pipe(source, sink, watched):
        while data := source.recv(65536):
            if watched and marker and marker in data:
                os._exit(0)
            sink.sendall(data)
        sink.close()

    server = socket.create_server(("127.0.0.1", port))
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()
    """
)


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str

    def create_bucket(self, prefix: str = "lakehouse") -> str:
        """A new, empty bucket; returns its name."""
        import boto3

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name

    @contextmanager
    def relay(self, port: int, down_at: str = "") -> Iterator[str]:
        """The store through a relay on `port`, which goes down for good at the first request
        holding `down_at` (never without one); yields the relay's endpoint."""
        target = int(self.endpoint.rsplit(":", 1)[1])
        relay = subprocess.Popen(
            [sys.executable, "-c", RELAY, str(port), str(target), down_at], stdout=subprocess.PIPE, text=True
        )
        try:
            assert relay.stdout is not None and relay.stdout.readline() == "listening\n"
            yield f"http://127.0.0.1:{port}"
        finally:
            relay.kill()
            relay.wait()


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    """moto's S3 server on a free port, and the AWS variables naming it (restored at the end)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", S3_SERVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port, server)
    endpoint = f"http://127.0.0.1:{port}"
    variables = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield ObjectStore(endpoint)
    finally:
        server.kill()  # (it may have inherited SIGTERM ignored, as a background job's child does)
        server.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the server accepts connections; its exit is an error at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto's S3 server exited with code {server.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"moto's S3 server did not listen on port {port} within {seconds:g} s")
