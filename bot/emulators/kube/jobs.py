"""The emulated Job controller: a Job runs one pod, then completes or fails when a
test says so (or after ``job_duration`` seconds)."""

from __future__ import annotations

import copy
from typing import Any

from bot.emulators.kube.cluster import monotonic
from bot.emulators.kube.pod_state import PodState
from bot.emulators.kube.pods import PodMaker, owned_by, terminal
from bot.emulators.kube.resources import JOBS, PODS

JSON = dict[str, Any]


class JobController(PodMaker):
    def reconcile_job(self, job: JSON) -> None:
        cluster = self.cluster
        meta = job["metadata"]
        status = job.get("status") or {}
        if (job.get("spec") or {}).get("suspend") or _job_finished(job):
            return
        if not status.get("startTime"):
            self.start_job(job)
            return
        duration = cluster.side.job_duration
        started = cluster.side.job_started.get(meta["uid"])
        if duration is not None and started is not None and monotonic() - started >= duration:
            self.finish_job(job, succeeded=not cluster.side.fail_jobs)

    def start_job(self, job: JSON) -> JSON:
        cluster = self.cluster
        meta = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        name = f"{meta['name']}-{cluster.random_suffix()}"
        self.create_pod(job, "Job", template, name, PodState(), generate_name=f"{meta['name']}-")
        updated = copy.deepcopy(job)
        updated["status"] = {
            "startTime": cluster.now(),
            "active": 1,
            "ready": 1,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
        cluster.side.job_started[meta["uid"]] = monotonic()
        return cluster.store(JOBS, updated)

    def finish_job(self, job: JSON, *, succeeded: bool) -> JSON:
        cluster = self.cluster
        meta = job["metadata"]
        if not (job.get("status") or {}).get("startTime"):
            job = self.start_job(job)
        now = cluster.now()
        for pod in cluster.items(PODS, meta["namespace"]):
            if owned_by(pod, meta["uid"]) and not terminal(pod):
                done = copy.deepcopy(pod)
                phase = "Succeeded" if succeeded else "Failed"
                self.set_pod_state(
                    done,
                    PodState(
                        phase=phase,
                        ready=False,
                        terminated_reason="Completed" if succeeded else "Error",
                    ),
                )
                cluster.store(PODS, done)
        status: JSON = {
            "startTime": job["status"]["startTime"],
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
        if succeeded:
            status["succeeded"] = int((job.get("spec") or {}).get("completions", 1) or 1)
            status["completionTime"] = now
            status["conditions"] = [
                {
                    "type": "SuccessCriteriaMet",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                },
                {
                    "type": "Complete",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                },
            ]
        else:
            status["failed"] = int((job.get("spec") or {}).get("backoffLimit", 6)) + 1
            status["conditions"] = [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ]
        updated = copy.deepcopy(cluster.raw(JOBS, meta["namespace"], meta["name"]) or job)
        updated["status"] = status
        self.emit(
            updated,
            "Completed" if succeeded else "BackoffLimitExceeded",
            "Job completed" if succeeded else "Job has reached the specified backoff limit",
            component="job-controller",
            warning=not succeeded,
        )
        return cluster.store(JOBS, updated)


def _job_finished(job: JSON) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )
