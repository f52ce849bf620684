"""The nightly schedule: runs `nightly` at a configurable local time; the as-of date is the day before."""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from orchestration.jobs import nightly_job
from orchestration.resources import AS_OF_TAG

DEFAULT_TIME = "03:00"
DEFAULT_TIMEZONE = "Europe/Moscow"


def _cron(local_time: str) -> str:
    hours, _, minutes = local_time.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError(f"CRM_SEGMENTS_NIGHTLY_AT={local_time!r} is not a time written HH:MM")
    return f"{int(minutes)} {int(hours)} * * *"


def build_nightly_schedule() -> dg.ScheduleDefinition:
    local_time = os.environ.get("CRM_SEGMENTS_NIGHTLY_AT", DEFAULT_TIME)
    timezone = os.environ.get("CRM_SEGMENTS_NIGHTLY_TZ", DEFAULT_TIMEZONE)

    @dg.schedule(
        job=nightly_job,
        cron_schedule=_cron(local_time),
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        name="nightly_schedule",
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        scheduled = context.scheduled_execution_time
        as_of = (scheduled - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=as_of, tags={AS_OF_TAG: as_of})

    return nightly_schedule
