"""The record_* functions the queue and websocket code call, live queue depth, and the exposition itself."""

from __future__ import annotations

import asyncio

import pytest

from gingee_kernel.metrics import series as metrics
from gingee_kernel.metrics.export import exposition

from .helpers import Scrape


def scraped() -> Scrape:
    body, content_type = asyncio.run(exposition())
    assert content_type.startswith("text/plain; version=0.0.4")
    return Scrape.parse(body.decode())


def test_job_events_and_durations_move():
    before = scraped()
    metrics.record_job("shop", "send-mail", "enqueued")
    metrics.record_job("shop", "send-mail", "started")
    metrics.record_job("shop", "send-mail", "failed")
    metrics.record_job("shop", "send-mail", "retried")
    metrics.record_job("shop", "send-mail", "succeeded")
    metrics.record_job_duration("shop", "send-mail", 0.2)
    after = scraped()

    job = {"app": "shop", "job_name": "send-mail"}
    for event in ("enqueued", "started", "failed", "retried", "succeeded"):
        assert after.moved(before, "gingee_jobs_total", event=event, **job) == 1
    assert after.moved(before, "gingee_jobs_total", event="dead", **job) == 0
    assert after.moved(before, "gingee_job_duration_seconds_count", **job) == 1
    assert after.moved(before, "gingee_job_duration_seconds_bucket", le="0.25", **job) == 1
    assert after.moved(before, "gingee_job_duration_seconds_bucket", le="0.1", **job) == 0


def test_unknown_job_event_is_refused():
    with pytest.raises(ValueError, match="expected one of"):
        metrics.record_job("shop", "send-mail", "exploded")


def test_websocket_connections_and_messages():
    before = scraped()
    metrics.record_ws_connection("chat", +1)
    metrics.record_ws_connection("chat", +1)
    metrics.record_ws_message("chat", "in")
    metrics.record_ws_message("chat", "out")
    metrics.record_ws_message("chat", "out")
    middle = scraped()
    metrics.record_ws_connection("chat", -1)
    after = scraped()
    conns = "gingee_websocket_connections"
    assert middle.moved(before, conns, app="chat") == 2
    assert after.moved(before, conns, app="chat") == 1
    msgs = "gingee_websocket_messages_total"
    assert after.moved(before, msgs, app="chat", direction="in") == 1
    assert after.moved(before, msgs, app="chat", direction="out") == 2
    with pytest.raises(ValueError):
        metrics.record_ws_message("chat", "sideways")


def test_unknown_methods_are_counted_as_other():
    before = scraped()
    metrics.record_http_request("m", "/x", "BREW", 418, 0.001)
    metrics.record_http_request("m", "/x", "GET", 204, 0.001)
    after = scraped()
    total = "gingee_http_requests_total"
    assert after.moved(before, total, app="m", route="/x", method="other", status_class="4xx") == 1
    assert 'method="BREW"' not in after.text
    assert after.value(total, app="m", route="/x", method="GET", status_class="2xx") >= 1


def test_queue_depth_is_read_at_scrape_time_from_sync_and_async_callbacks(caplog):
    depths = {"shop": 3}

    async def remote() -> dict[str, int]:
        await asyncio.sleep(0)
        return {"shop": 2, "blog": 5}

    def broken() -> dict[str, int]:
        raise ConnectionError("redis is down")

    unregister = [metrics.register_queue_depth(lambda: depths), metrics.register_queue_depth(remote)]
    unregister.append(metrics.register_queue_depth(broken))
    try:
        first = scraped()
        depths["shop"] = 0
        second = scraped()
    finally:
        for fn in unregister:
            fn()
    assert first.value("gingee_queue_depth", app="shop") == 5
    assert first.value("gingee_queue_depth", app="blog") == 5
    assert second.value("gingee_queue_depth", app="shop") == 2
    assert scraped().labelsets("gingee_queue_depth") == []
    assert "a queue-depth callback failed" in caplog.text


def test_every_family_is_declared_once_with_help():
    text = scraped().text
    for name in (
        "gingee_http_requests_total",
        "gingee_http_request_duration_seconds",
        "gingee_http_requests_in_flight",
        "gingee_limit_rejections_total",
        "gingee_permission_denials_total",
        "gingee_app_load_errors_total",
        "gingee_jobs_total",
        "gingee_job_duration_seconds",
        "gingee_queue_depth",
        "gingee_websocket_connections",
        "gingee_websocket_messages_total",
        "gingee_cache_lookups_total",
        "gingee_build_info",
    ):
        family = name.removesuffix("_total")
        assert text.count(f"# TYPE {name} ") == 1 or text.count(f"# TYPE {family} ") == 1, name
        assert f"# HELP {name} " in text, name
