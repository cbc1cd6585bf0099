"""The operator's figures, in Prometheus' text format (`GET /metrics`).

Events are counted where they happen, in process-wide collectors (the Prometheus way: one
process, one set of series). Levels that already live in an object (slots in use, late
outbound frames, the ingestion queue) are read from it when scraped, through `watch`, so the
hot paths (20 ms audio frames) pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

CALLS = Counter("vt_calls", "Calls connected.", ["transport"], registry=REGISTRY)
TURN_STAGE = Histogram(
    "vt_turn_stage_seconds",
    "Time of each stage of a turn (the metrics event's fields).",
    ["stage"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
    registry=REGISTRY,
)
SPECULATION = Counter(
    "vt_speculation",
    "Replies prepared at a pause: committed (given) or dropped (the student went on).",
    ["outcome"],
    registry=REGISTRY,
)
ERRORS = Counter("vt_errors", "Error events sent to clients, by code.", ["code"], registry=REGISTRY)
SPEECH_GAPS = Counter(
    "vt_speech_gaps",
    "Waits of playback for synthesis inside a reply (over 150 ms).",
    registry=REGISTRY,
)
LLM_TOKENS = Counter("vt_llm_tokens", "Pieces the LLM generated.", registry=REGISTRY)
LLM_SECONDS = Counter(
    "vt_llm_generation_seconds", "Time the LLM spent generating them.", registry=REGISTRY
)

# The metrics event's fields that are stage durations (ms), and their stage label.
STAGES = {
    "endpoint_ms": "endpoint",
    "asr_final_ms": "asr_final",
    "llm_first_token_ms": "llm_first_token",
    "tts_first_audio_ms": "tts_first_audio",
    "first_audio_sent_ms": "first_audio_sent",
    "total_ms": "total",
}


def observe_turn(values: dict[str, object]) -> None:
    """Record one reply's `metrics` event."""
    for field, stage in STAGES.items():
        value = values.get(field)
        if isinstance(value, int | float):
            TURN_STAGE.labels(stage).observe(value / 1000)
    if values.get("speculation") == "committed":
        SPECULATION.labels("committed").inc()
    drops = values.get("speculation_drops")
    if isinstance(drops, int) and drops:
        SPECULATION.labels("dropped").inc(drops)
    gaps = values.get("gaps")
    if isinstance(gaps, int) and gaps:
        SPEECH_GAPS.inc(gaps)


@dataclass(frozen=True)
class Reading:
    """A level read at scrape time: `read` returns {label value: number} (one label, `label`)
    or a bare number."""

    name: str
    documentation: str
    kind: str  # "gauge" or "counter"
    read: Callable[[], dict[str, float] | float]
    label: str | None = None


class _Readings(Collector):
    """Every `watch`ed reading; several sources of one name (two apps in one process) add up."""

    def __init__(self) -> None:
        self.sources: list[Reading] = []

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, tuple[Reading, dict[str, float]]] = {}
        for reading in list(self.sources):
            value = reading.read()
            values = value if isinstance(value, dict) else {"": float(value)}
            _, total = merged.setdefault(reading.name, (reading, {}))
            for key, number in values.items():
                total[key] = total.get(key, 0.0) + number
        for name, (reading, values) in merged.items():
            labels = [reading.label] if reading.label else []
            family: GaugeMetricFamily | CounterMetricFamily
            if reading.kind == "counter":
                family = CounterMetricFamily(name, reading.documentation, labels=labels)
            else:
                family = GaugeMetricFamily(name, reading.documentation, labels=labels)
            for key, number in values.items():
                family.add_metric([key] if labels else [], number)
            yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names come and go with the apps that watch them


_READINGS = _Readings()
REGISTRY.register(_READINGS)


def watch(reading: Reading) -> Callable[[], None]:
    """Read `reading` at every scrape from now on; call the result to stop."""
    _READINGS.sources.append(reading)

    def stop() -> None:
        if reading in _READINGS.sources:
            _READINGS.sources.remove(reading)

    return stop


def exposition() -> tuple[bytes, str]:
    """The body and content type of `GET /metrics`."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
