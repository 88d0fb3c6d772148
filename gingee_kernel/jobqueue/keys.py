"""Every Redis key the queue uses beyond arq's own, in one place, with why each exists.

arq keeps a job as `arq:job:<id>` (its definition), `arq:in-progress:<id>` (the lease), `arq:retry:<id>`
(attempts so far) and `arq:result:<id>`, and queues ids in a sorted set scored by run time. We give each
app its own sorted set and prefix its job ids with it, so apps (and projects sharing a Redis with another
prefix) never see each other's jobs.
"""

from __future__ import annotations

from dataclasses import dataclass


def escape(name: str) -> str:
    """`name` with '%' and ':' escaped, so an app name can never forge another app's namespace."""
    return name.replace("%", "%25").replace(":", "%3A")


@dataclass(frozen=True)
class AppKeys:
    """The names of one app's keys under the project's prefix (gingee.json queue.prefix)."""

    prefix: str
    app: str

    @property
    def namespace(self) -> str:
        """`<prefix><app>`: the start of every key and arq job id of this app."""
        return f"{self.prefix}{escape(self.app)}"

    @property
    def queue(self) -> str:
        """The arq queue (sorted set: job id -> time to run, in ms) that this app's workers poll."""
        return self.namespace

    @property
    def dlq(self) -> str:
        """Dead jobs (sorted set: job id -> time it died), oldest trimmed past queue.dlq_max."""
        return f"{self.namespace}:dlq"

    @property
    def dlq_entries(self) -> str:
        """Dead jobs' records (hash: job id -> JSON with name, payload, attempts, error)."""
        return f"{self.namespace}:dlq:entries"

    @property
    def errors(self) -> str:
        """The last error of jobs waiting for a retry (hash: job id -> text), so listings can show it."""
        return f"{self.namespace}:errors"

    @property
    def progress(self) -> str:
        """What running jobs reported with `g.job.progress()` (hash: job id -> JSON)."""
        return f"{self.namespace}:progress"

    @property
    def recent(self) -> str:
        """The latest finished jobs (list of JSON summaries, newest first, capped), for job views."""
        return f"{self.namespace}:recent"

    def tick(self, schedule: str, slot_ms: int) -> str:
        """The lock a worker takes (SET NX) to run one tick of a schedule, so only one worker runs it."""
        return f"{self.namespace}:tick:{escape(schedule)}:{slot_ms}"

    def job_id(self, user_id: str) -> str:
        """The arq job id of the app's job `user_id`."""
        return f"{self.namespace}:{user_id}"

    def user_id(self, arq_id: str) -> str:
        """The id the app knows, from an arq job id of this app."""
        return arq_id[len(self.namespace) + 1 :]
