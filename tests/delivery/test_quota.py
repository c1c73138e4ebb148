"""Relay quotas: reading them, their moving windows, purging, and workers racing for slots."""

from __future__ import annotations

import multiprocessing

import pytest
import time_machine

from tests.conftest import BASE_SETTINGS
from webapp import create_app
from webapp.delivery import quota
from webapp.delivery.quota import Limit
from webapp.extensions import db
from webapp.models import School

# A fixed clock: every window below is counted from explicit moments, never the wall clock.
T0 = 1_800_000_000.0
DAY = 24 * 60 * 60


def take(app, now: float, channel: str = "email") -> float:
    """Ask for a slot at `now` (Redis reads the clock, so the clock is moved there too)."""
    with app.app_context(), time_machine.travel(now, tick=False):
        return quota.take(channel, now=now)


def used(app, seconds: int, now: float, channel: str = "email") -> int:
    with app.app_context(), time_machine.travel(now, tick=False):
        return quota.used(channel, seconds, now=now)


def test_a_quota_is_read_as_written_with_each_period_in_seconds():
    assert quota.parse("MAIL_RATE_LIMIT", "30 per minute; 10000 per day") == [
        Limit(30, 60, "30 per minute"),
        Limit(10000, DAY, "10000 per day"),
    ]
    assert quota.parse("SMS_RATE_LIMIT", "1/second") == [Limit(1, 1, "1/second")]
    assert quota.parse("MAIL_RATE_LIMIT", "50000 per 24 hours") == [
        Limit(50000, DAY, "50000 per 24 hours")
    ]
    assert quota.parse("MAIL_RATE_LIMIT", None) == quota.parse("MAIL_RATE_LIMIT", " ") == []


@pytest.mark.parametrize("setting", ["MAIL_RATE_LIMIT", "SMS_RATE_LIMIT"])
@pytest.mark.parametrize("value", ["30 per fortnight", "thirty a minute", "0 per minute", 30])
def test_an_unreadable_quota_stops_the_app_at_start_naming_setting_and_value(
    setting, value, tmp_path, monkeypatch
):
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=rf"{setting}.*{value!r}"):
        create_app({**BASE_SETTINGS, setting: value})


def test_the_quota_comes_from_the_flask_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_MAIL_RATE_LIMIT", "30 per minute; 10000 per day")
    app = create_app(BASE_SETTINGS)
    with app.app_context():
        assert [limit.amount for limit in quota.limits_for("email")] == [30, 10000]
        assert quota.limits_for("sms") == []
        with pytest.raises(ValueError, match="print"):
            quota.limits_for("print")


def test_without_a_quota_every_slot_is_granted_and_nothing_counted(backend):
    assert [take(backend, T0) for _ in range(50)] == [0.0] * 50
    assert used(backend, DAY, T0) == 0


@pytest.mark.settings(MAIL_RATE_LIMIT="3 per minute")
def test_a_full_window_answers_when_its_oldest_send_leaves_it(backend):
    assert [take(backend, T0 + s) for s in (0, 10, 20)] == [0.0, 0.0, 0.0]
    assert take(backend, T0 + 30) == pytest.approx(30)  # the send at T0 leaves at T0 + 60
    assert take(backend, T0 + 60.5) == 0.0
    assert take(backend, T0 + 61) == pytest.approx(9)  # now the send at T0 + 10 is oldest
    assert used(backend, 60, T0 + 61) == 3


@pytest.mark.settings(MAIL_RATE_LIMIT="2 per minute; 5 per day")
def test_a_spent_daily_quota_waits_for_the_rest_of_the_day_then_sends_again(backend):
    assert [take(backend, T0 + 31 * n) for n in range(5)] == [0.0] * 5
    assert take(backend, T0 + 155) == pytest.approx(DAY - 155)
    assert used(backend, DAY, T0 + 155) == 5
    assert used(backend, 60, T0 + 155) == 1  # the send at T0 + 124
    assert take(backend, T0 + DAY + 1) == 0.0


@pytest.mark.settings(MAIL_RATE_LIMIT="1 per minute", SMS_RATE_LIMIT="1 per minute")
def test_email_and_sms_have_quotas_of_their_own(backend):
    assert take(backend, T0, "email") == 0.0
    assert take(backend, T0, "sms") == 0.0
    assert take(backend, T0 + 1, "email") == pytest.approx(59)
    assert used(backend, 60, T0 + 1, "sms") == 1


@pytest.mark.settings(MAIL_RATE_LIMIT="5 per minute")
def test_a_slot_is_committed_apart_from_the_callers_transaction(app):
    with app.app_context():
        db.session.add(School(name="Rolled back"))
        assert quota.take("email", now=T0) == 0.0
        db.session.rollback()
        assert quota.used("email", 60, now=T0) == 1


@pytest.mark.settings(MAIL_RATE_LIMIT="5 per hour", SMS_RATE_LIMIT="1 per second")
def test_purge_deletes_only_sends_no_window_can_count(app):
    for moment in (T0, T0 + 1000, T0 + 4000):
        assert take(app, moment) == 0.0
    with app.app_context():
        # Kept: the longest period configured (an hour), even when asked for less.
        assert quota.purge(older_than_seconds=60, now=T0 + 4000) == 1
        assert quota.purge(now=T0 + 4000) == 0
        assert quota.used("email", DAY, now=T0 + 4000) == 2
        assert quota.purge(older_than_seconds=2 * 3600, now=T0 + 4000 + 2 * 3600) == 2


def _race(settings: dict, start, attempts: int, results) -> None:
    """Be one worker: its own app, then ask for slots as fast as it can."""
    app = create_app(settings)
    with app.app_context():
        start.wait()
        granted = sum(quota.take("email", now=T0) == 0.0 for _ in range(attempts))
        db.engine.dispose()
    results.put(granted)


@pytest.mark.settings(MAIL_RATE_LIMIT="20 per hour; 1000 per day")
def test_workers_racing_for_slots_never_get_more_than_the_quota(backend):
    context = multiprocessing.get_context("fork")
    workers, attempts = 4, 15
    start, results = context.Barrier(workers), context.Queue()
    keys = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "MAIL_RATE_LIMIT")
    settings = {**BASE_SETTINGS, **{key: backend.config[key] for key in keys}}
    processes = [
        context.Process(target=_race, args=(settings, start, attempts, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    granted = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0

    assert sum(granted) == 20
    with backend.app_context():
        assert quota.used("email", DAY, now=T0) == 20
