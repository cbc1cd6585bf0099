"""`GET /metrics`: Prometheus' text format, parsed by prometheus-client's own parser."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from tests.calls import eventually, next_event, open_call, wait_reply
from tests.conftest import login


async def scrape(client: TestClient[Any, Any]) -> dict[str, dict[tuple[str, ...], float]]:
    """Every sample, by metric name and its labels' values."""
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(await resp.text()):
        samples = found.setdefault(family.name, {})
        for sample in family.samples:
            key = (sample.name, *(f"{k}={v}" for k, v in sorted(sample.labels.items())))
            samples[key] = sample.value
    return found


def value(found: dict[str, dict[tuple[str, ...], float]], family: str, *key: str) -> float:
    return found.get(family, {}).get(key, 0.0)


async def test_metrics_count_calls_errors_tokens_and_slots(client: TestClient[Any, Any]) -> None:
    before = await scrape(client)
    for family in ("vt_turn_stage_seconds", "vt_speculation", "vt_ingestion_queue"):
        assert family in before, f"{family} missing from /metrics"
    assert value(before, "vt_call_slots", "vt_call_slots") >= 1
    assert value(before, "vt_calls_active", "vt_calls_active") == 0

    headers = await login(client)
    _, call = await open_call(client, headers)
    try:
        call.send_text("What is gravity?")
        await wait_reply(call, timeout=120, on_event=lambda _: None)
        call.channel.send("[" * 100)
        await next_event(call, "error")
        during = await scrape(client)
        assert value(during, "vt_calls_active", "vt_calls_active") == 1
    finally:
        await call.hang_up()

    after = await scrape(client)
    started = ("vt_calls_total", "transport=webrtc")
    assert value(after, "vt_calls", *started) == value(before, "vt_calls", *started) + 1
    bad = ("vt_errors_total", "code=bad_message")
    assert value(after, "vt_errors", *bad) == value(before, "vt_errors", *bad) + 1
    tokens = ("vt_llm_tokens_total",)
    assert value(after, "vt_llm_tokens", *tokens) > value(before, "vt_llm_tokens", *tokens)
    seconds = ("vt_llm_generation_seconds_total",)
    assert value(after, "vt_llm_generation_seconds", *seconds) > value(
        before, "vt_llm_generation_seconds", *seconds
    )

    async def released() -> bool:
        return value(await scrape(client), "vt_calls_active", "vt_calls_active") == 0

    await eventually(released)


def test_a_reply_metrics_event_fills_the_stage_histograms() -> None:
    def count(stage: str) -> float:
        return (
            metrics.REGISTRY.get_sample_value("vt_turn_stage_seconds_count", {"stage": stage})
            or 0.0
        )

    def counted(name: str, labels: dict[str, str] | None = None) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0

    total, endpoint = count("total"), count("endpoint")
    committed = counted("vt_speculation_total", {"outcome": "committed"})
    dropped = counted("vt_speculation_total", {"outcome": "dropped"})
    gaps = counted("vt_speech_gaps_total")
    metrics.observe_turn(
        {
            "total_ms": 812.0,
            "endpoint_ms": 400.0,
            "speculation": "committed",
            "speculation_drops": 2,
            "gaps": 1,
            "endpoint": "smart_turn",  # not a duration: ignored
        }
    )
    assert count("total") == total + 1
    assert count("endpoint") == endpoint + 1
    assert counted("vt_speculation_total", {"outcome": "committed"}) == committed + 1
    assert counted("vt_speculation_total", {"outcome": "dropped"}) == dropped + 2
    assert counted("vt_speech_gaps_total") == gaps + 1
