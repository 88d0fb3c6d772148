"""Job queues: the service behind `from gingee_kernel import queue`, its drivers, workers and schedules.

settings.py   gingee.json `queue`, validated once          keys.py     every Redis key, in one place
job.py        job specs, statuses, g.job, JSON checks     errors.py   Retry, JobFailed, HandlerNotFound
handlers.py   which function runs a job (registry, app.json, box/jobs/)
runner.py     one attempt of one job, in its app's context, and what happens next
base.py       the driver interface                         memory.py   in-process driver (development)
arq_driver.py arq on Redis (production)                    dlq.py      the Redis dead-letter queue
worker.py     `gingee worker`: arq workers for every app   schedules.py, cron.py: app.json `schedules`
service.py    one project's queue: driver, workers, scheduler, metrics
api.py        the operator JSON API (host-neutral)         http.py     that API on `gingee serve`
"""

from __future__ import annotations

from .errors import HandlerNotFound, JobFailed, JobNotFound, Retry
from .handlers import register_job_handler, unregister_job_handler

__all__ = [
    "HandlerNotFound",
    "JobFailed",
    "JobNotFound",
    "Retry",
    "register_job_handler",
    "unregister_job_handler",
]
