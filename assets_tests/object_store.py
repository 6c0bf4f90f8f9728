"""A real S3-compatible object store for the tests: moto's server, one per session (and xdist worker).

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
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "lakehouse-test", "AWS_SECRET_ACCESS_KEY": "lakehouse-test-secret"}


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str

    def create_bucket(self, prefix: str = "lakehouse") -> str:
        """A new, empty bucket; returns its name."""
        import boto3

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    """moto's S3 server on a free port, and the AWS variables naming it (restored at the end)."""
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
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
        server.terminate()
        server.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the server accepts connections; its exit is an error at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto_server exited with code {server.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"moto_server did not listen on port {port} within {seconds:g} s")
