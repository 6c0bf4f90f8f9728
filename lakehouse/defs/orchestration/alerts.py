"""Alerts: a failed run is logged, appended as a JSON line to the alerts file, and POSTed to a
webhook when one is configured (e.g. a Slack or Teams incoming webhook, or an on-call service).

The alerts file (`<data>/alerts/alerts.jsonl`) is the record that always exists; the webhook is
best effort: a webhook that cannot be reached is logged, and never hides the alert itself.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import requests

WEBHOOK_TIMEOUT_SECONDS = 10
REAPED = "Reaped"  # the first word of the failure message of a run whose process died (`reaper`)


class Alerts(dg.ConfigurableResource):
    """Where alerts go: the alerts file, and a webhook URL when configured (may hold a secret)."""

    alerts_path: str
    webhook_url: str = ""

    def send(self, alert: dict[str, Any]) -> bool:
        """Record the alert; POST it to the webhook when there is one. True if the webhook took it."""
        path = Path(self.alerts_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as alerts:
            alerts.write(json.dumps(alert, sort_keys=True, default=str) + "\n")
        if not self.webhook_url:
            return False
        response = requests.post(self.webhook_url, json=alert, timeout=WEBHOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
        return True


def run_failure_alert(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """The alert for a failed run: which run and job, which steps failed, and the first error."""
    failures = context.get_step_failure_events()
    error = context.failure_event.message or ""
    if failures and failures[0].step_failure_data.error:
        error = _root_cause(failures[0].step_failure_data.error).message.strip()
    return {
        "at": datetime.now(UTC).isoformat(),
        "kind": "run_failure",
        "run_id": context.dagster_run.run_id,
        "job": context.dagster_run.job_name,
        "failed_steps": [event.step_key for event in failures],
        "error": error.splitlines()[0] if error else "",
    }


def _root_cause(error: Any) -> Any:
    """The user's error, not Dagster's "error occurred while executing op" wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on every failed run: log, alerts file, webhook when configured.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: Alerts) -> None:
    if (context.failure_event.message or "").startswith(REAPED):
        return  # the reaper alerted already, saying what happened
    alert = run_failure_alert(context)
    context.log.error(f"run {alert['run_id']} ({alert['job']}) failed: {alert['error']}")
    try:
        alerts.send(alert)
    except requests.RequestException as error:  # the URL may hold a token: name the failure only
        status = getattr(error.response, "status_code", None)
        reason = f"HTTP {status}" if status else type(error).__name__
        context.log.error(f"alert recorded in {alerts.alerts_path}, but the webhook failed: {reason}")
