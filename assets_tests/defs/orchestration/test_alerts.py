"""A failed run raises an alert: a JSON line in the alerts file, and a POST to the webhook."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.definitions import build_definitions
from lakehouse.defs.orchestration.alerts import Alerts, run_failure_alert_sensor
from lakehouse.settings import get_settings


class Webhook(ThreadingHTTPServer):
    """A real local HTTP endpoint that keeps what was POSTed and answers with `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.received: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/secret-token"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(params=[200, 500], ids=["webhook-ok", "webhook-down"])
def webhook(request: pytest.FixtureRequest) -> Iterator[Webhook]:
    server = Webhook(request.param)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@dg.asset
def broken_asset() -> None:
    raise ValueError("source file payments-2025-01-02.csv is truncated")


def failed_run_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = dg.materialize([broken_asset], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
    ).for_run_failure()


def test_a_failed_run_is_recorded_and_posted_to_the_webhook(tmp_path: Path, instance, webhook: Webhook):
    alerts_file = tmp_path / "alerts" / "alerts.jsonl"
    context = failed_run_context(instance)

    run_failure_alert_sensor(context, alerts=Alerts(alerts_path=str(alerts_file), webhook_url=webhook.url))

    recorded = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert len(recorded) == 1
    alert = recorded[0]
    assert (alert["kind"], alert["run_id"], alert["failed_steps"]) == (
        "run_failure",
        context.dagster_run.run_id,
        ["broken_asset"],
    )
    assert alert["error"] == "ValueError: source file payments-2025-01-02.csv is truncated"
    assert webhook.received == [alert]  # posted even when the webhook then answers 500


def test_without_a_webhook_the_alert_is_still_recorded(tmp_path: Path, instance):
    alerts_file = tmp_path / "alerts.jsonl"

    run_failure_alert_sensor(failed_run_context(instance), alerts=Alerts(alerts_path=str(alerts_file)))

    assert len(alerts_file.read_text().splitlines()) == 1


def test_the_lakehouse_alerts_into_its_data_folder_and_keeps_the_webhook_secret(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ALERT_WEBHOOK_URL", "https://hooks.example.com/T000/secret")
    settings = get_settings(tmp_path)

    definitions = build_definitions(settings)

    assert definitions.resolve_sensor_def("run_failure_alert_sensor")
    alerts = definitions.resources["alerts"]
    assert alerts.alerts_path == str(tmp_path.resolve() / "alerts" / "alerts.jsonl")
    assert alerts.webhook_url == dg.EnvVar("LAKEHOUSE_ALERT_WEBHOOK_URL")  # the UI shows its name only
