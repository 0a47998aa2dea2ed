"""MLflow 3 tracing through the tracking URI (nginx and its login when the URI
is the public one), with the real client, run inside a test container or on
the host against a published port:

    python mlflow_trace_check.py

Uses MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD and, for a
self-signed certificate, MLFLOW_TRACKING_SERVER_CERT_PATH. In a new
experiment it logs
  - a trace of a function decorated with @mlflow.trace (MLflow's own
    exporter, synchronous here so that a failure is this script's failure);
  - a span of the OpenTelemetry SDK, sent by the OTLP/HTTP exporter
    (opentelemetry-exporter-otlp-proto-http, protobuf) to
    <tracking URI>/v1/traces with the experiment in x-mlflow-experiment-id
    and the same basic login; the exporter's own result must be SUCCESS;
and finds both with mlflow.search_traces. Prints one JSON line (no
credentials); exits non-zero on any failure."""
import base64
import json
import os
import sys
import time
import uuid

# Before MLflow is imported: the decorator's trace is sent before it returns.
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


def otlp_export(uri: str, experiment_id: str, marker: str) -> int:
    """One span through the OTLP/HTTP exporter; returns the number sent."""
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "mlops-mlflow-otlp-check"}))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    with provider.get_tracer("mlops-mlflow-otlp-check").start_as_current_span("otlp-check") as span:
        span.set_attribute("check.marker", marker)
    spans = captured.get_finished_spans()
    headers = {"x-mlflow-experiment-id": experiment_id}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        login = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(login).decode()
    exporter = OTLPSpanExporter(
        endpoint=uri + "/v1/traces",
        headers=headers,
        certificate_file=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None,
        timeout=30,
    )
    result = exporter.export(spans)
    exporter.shutdown()
    provider.shutdown()
    if result != SpanExportResult.SUCCESS:
        raise SystemExit(f"the OTLP/HTTP exporter's export to {uri}/v1/traces failed: {result}")
    return len(spans)


def main():
    uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    client = MlflowClient()
    name = f"traces-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    mlflow.set_experiment(experiment_id=experiment_id)
    marker = uuid.uuid4().hex

    @mlflow.trace(name="predict")
    def predict(x):
        return x * 2

    assert predict(21) == 42
    decorated_id = mlflow.get_last_active_trace_id()
    assert decorated_id, "@mlflow.trace made no trace"
    sent = otlp_export(uri, experiment_id, marker)

    # The server writes OTLP spans when the request returns; a short wait
    # covers a busy machine without hiding a trace that never arrives.
    names = {}
    for _ in range(30):
        traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
        names = {t.info.trace_id: sorted(s.name for s in t.data.spans) for t in traces}
        if decorated_id in names and any("otlp-check" in spans for spans in names.values()):
            break
        time.sleep(1)
    assert names.get(decorated_id) == ["predict"], names
    otlp = [tid for tid, spans in names.items() if spans == ["otlp-check"]]
    assert len(otlp) == 1, names
    attributes = client.get_trace(otlp[0]).data.spans[0].attributes
    assert attributes.get("check.marker") == marker, attributes
    print(json.dumps({"experiment": name, "decorated_trace": decorated_id, "otlp_trace": otlp[0],
                      "otlp_spans_sent": sent}))


if __name__ == "__main__":
    sys.exit(main())
