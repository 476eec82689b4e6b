#!/usr/bin/env python3
"""localaws: a local AWS for Berth's development and tests, built on moto.

moto 5.2.5 answers the AWS APIs Berth uses, but it has no ECS scheduler: a service never gets
tasks, DescribeServices never changes, tasks lack timestamps and health, and no target is ever
registered or unhealthy (see localaws/README.md and /work/shared/notes/moto.md). localaws sits
in front of moto as an HTTP proxy on one loopback port and

  * forwards every AWS request to moto unchanged and returns moto's answer;
  * runs a scheduler that plays ECS's part: registers the auto scaling group's instances as
    container instances, keeps each service's desired count of tasks running (rolling
    replacements, events), and registers the tasks as targets of the service's target group,
    in every account and region that requests were made in (the account as moto finds it
    from the access key, e.g. credentials of an STS AssumeRole into another account);
  * rewrites moto's answers to the few read calls moto gets wrong (ECS DescribeServices,
    DescribeTasks, ListTasks; ELBv2 DescribeTargetHealth) from the scheduler's state;
  * offers a control API under /_localaws/ to stop tasks, set task and target health, pause
    the scheduler and inject faults (throttling, server errors, lost responses, delays); to
    make tasks fail as on ECS (an image that cannot be pulled, an essential container that
    exits, a failing health check; replacements, service events, the deployment circuit
    breaker); and to make stack operations take time and fail with CloudFormation's rollbacks
    (in moto: stack_lifecycle.py).

Clients point AWS_ENDPOINT_URL at the proxy exactly as they would at moto. Only the Python
standard library and boto3 are used.

    .venv/bin/python localaws/localaws.py --port 5055 [--moto-url URL] [--tick-ms 500] [--log FILE]
                                          [--stack-step-ms 0]
"""

import os

# Who started us, read before the slow imports below: if that process is gone by the time
# localaws is up, localaws must stop too (a test run that was killed leaves no servers behind).
PARENT_PID = os.getppid()

import argparse  # noqa: E402 (after PARENT_PID on purpose)
import ctypes
import dataclasses
import fnmatch
import http.client
import http.server
import json
import logging
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from typing import NamedTuple, Optional

import boto3
import botocore.config

log = logging.getLogger("localaws")

DEFAULT_REGION = "us-east-1"
# moto's default account (moto.core.DEFAULT_ACCOUNT_ID): the account of every request whose
# access key moto did not issue. localaws asks the moto it talks to (Accounts.default).
DEFAULT_ACCOUNT = "123456789012"
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
# The ECS agent gives bridge-mode containers without a HostPort a port from this range.
EPHEMERAL_PORT_START = 32768
# Real ECS returns at most the 100 newest service events.
MAX_EVENTS = 100
# Stack states in which a stack's resources exist. moto may re-run resource creation when a
# stack stuck in CREATE_IN_PROGRESS is described, so other states are never described.
LIVE_STACK_STATES = {
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
}
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length",
}


def now() -> float:
    return time.time()


def scope_of_arn(arn: str) -> Optional["Scope"]:
    """The account and region of an ARN (arn:aws:ecs:REGION:ACCOUNT:...)."""
    parts = arn.split(":", 5)
    return Scope(parts[4], parts[3]) if len(parts) == 6 else None


def short_id(arn: str) -> str:
    """The last part of an ARN: what ECS events print for a task."""
    return arn.rsplit("/", 1)[-1]


def new_deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


# --------------------------------------------------------------------------------------------
# moto: the process and the clients the scheduler uses to talk to it directly
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when localaws dies, even by SIGKILL (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_moto(log_file: Optional[str]) -> tuple:
    """Starts moto's server (the moto installed for this Python, as `moto_server` would, with
    the fix in patched_moto.py) on a free loopback port."""
    server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "patched_moto.py")
    port = free_port()
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )
    return process, f"http://127.0.0.1:{port}"


def moto_is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def wait_for_moto(url: str, process=None, seconds: float = 30) -> None:
    deadline = now() + seconds
    while now() < deadline:
        if moto_is_up(url):
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"moto_server exited with {process.returncode} (see --moto-log)")
        time.sleep(0.1)
    raise SystemExit(f"moto did not answer at {url} within {seconds} s")


def freeze_task_states(url: str) -> None:
    """moto advances a task one step towards STOPPED on every DescribeTasks unless told not to."""
    body = json.dumps({"model_name": "ecs::task",
                       "transition": {"progression": "manual", "times": 1000000000}}).encode()
    request = urllib.request.Request(f"{url}/moto-api/state-manager/set-transition", data=body,
                                     method="POST", headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


class Scope(NamedTuple):
    """Where AWS resources live: an account and a region. Every moto call of the scheduler,
    the overlays and the control API is made in one."""
    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}/{self.region}"


class MotoClients:
    """boto3 clients that talk to moto directly (not through the proxy: no faults, no stats),
    one per service and scope. A client of another account than moto's default sends moto's
    own `x-moto-account-id` header, which moto prefers to the access key when it decides the
    account of a request (BaseResponse.get_current_account): these calls reach that account's
    state whoever issued the credentials.

    botocore clients are thread-safe once created; creation is not, and is slow, so clients
    are shared and created under a lock.
    """

    def __init__(self, url: str, default_account: str = DEFAULT_ACCOUNT):
        self.url = url
        self.default_account = default_account
        self._lock = threading.Lock()
        self._session = boto3.session.Session(aws_access_key_id="localaws",
                                              aws_secret_access_key="localaws")
        self._clients = {}
        self._config = botocore.config.Config(retries={"max_attempts": 2, "mode": "standard"},
                                              connect_timeout=5, read_timeout=60)

    def __call__(self, service: str, scope: Scope):
        with self._lock:
            key = (service, scope)
            if key not in self._clients:
                client = self._session.client(
                    service, region_name=scope.region, endpoint_url=self.url, config=self._config)
                if scope.account != self.default_account:
                    client.meta.events.register("before-sign", _in_account(scope.account))
                self._clients[key] = client
            return self._clients[key]


def _in_account(account: str):
    def add_header(request, **_):
        request.headers["x-moto-account-id"] = account
    return add_header


# --------------------------------------------------------------------------------------------
# State shared by the scheduler, the overlays and the control API
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class TaskRecord:
    """What localaws knows about a task beyond what moto keeps."""
    arn: str
    cluster_arn: str
    group: str
    started_by: str
    task_definition: str
    container_instance: Optional[str]
    phase: str  # PENDING, RUNNING or STOPPED (moto only knows RUNNING and STOPPED)
    created_at: float
    started_at: Optional[float] = None
    stopped_at: Optional[float] = None
    stop_code: Optional[str] = None
    stopped_reason: Optional[str] = None
    exit_code: Optional[int] = None
    health: str = "UNKNOWN"
    instance_id: Optional[str] = None
    host_port: Optional[int] = None
    container_port: Optional[int] = None
    # Set only by a task failure rule (the control API's /tasks/failures):
    failure: Optional["TaskFailure"] = None  # what will happen to the task
    failed: bool = False  # counts as a failed task of its deployment (circuit breaker)
    never_ran: bool = False  # stopped before its containers started: no exit code
    container_reason: Optional[str] = None  # the containers' reason once stopped (None: none)
    unhealthy_since: Optional[float] = None

    @property
    def live(self) -> bool:
        return self.phase != "STOPPED"

    @property
    def service_name(self) -> Optional[str]:
        return self.group[len("service:"):] if self.group.startswith("service:") else None


@dataclasses.dataclass
class Deployment:
    id: str
    task_definition: str
    created_at: float
    updated_at: float
    status: str = "PRIMARY"  # or ACTIVE: an older deployment whose tasks are being replaced
    completed: bool = False
    failed: bool = False  # the deployment circuit breaker failed it
    rolling_back: bool = False  # a completed deployment the circuit breaker went back to


@dataclasses.dataclass
class StackService:
    """What an ECS service's CloudFormation stack says about it."""
    target_group: Optional[str]
    task_definition: Optional[str]


@dataclasses.dataclass
class ServiceRecord:
    arn: str
    name: str
    cluster_arn: str
    deployments: list = dataclasses.field(default_factory=list)  # primary first
    events: list = dataclasses.field(default_factory=list)  # oldest first
    steady: bool = False
    moto_deployment_id: Optional[str] = None
    target_group: Optional[str] = None
    container_name: Optional[str] = None
    container_port: Optional[int] = None
    # target group ARN -> {(instance id, port): task ARN} registered by the scheduler
    targets: dict = dataclasses.field(default_factory=dict)
    last_placement_failure: float = 0.0
    # Failed tasks (task failure rules): ECS backs off before it starts the next ones.
    consecutive_failures: int = 0
    next_launch_at: float = 0.0
    unhealthy_replaced: int = 0  # stopped for failing health checks, not yet replaced
    circuit_breaker: tuple = (False, False)  # (enable, rollback) from deploymentConfiguration

    @property
    def primary(self) -> Optional[Deployment]:
        return self.deployments[0] if self.deployments else None

    def event(self, message: str) -> None:
        self.events.append({"id": str(uuid.uuid4()), "createdAt": now(), "message": message})
        del self.events[:-MAX_EVENTS]
        log.info("%s", message)


# -- task failure rules: tasks that cannot start, exit, or fail their health check

TASK_FAILURES = ("pull", "exit", "unhealthy")
# With no rule set through the control API: an image whose tag is "does-not-exist" cannot be
# pulled (so a user can see a failed deployment by deploying such an image).
DEFAULT_TASK_RULES = [{"image": "*:does-not-exist", "failure": "pull"}]
# What the ECS agent (Docker) reports for an image that is not in its registry.
PULL_ERROR = ("CannotPullContainerError: Error response from daemon: manifest for {image} not found: "
              "manifest unknown: manifest unknown")


@dataclasses.dataclass
class TaskFailure:
    """What happens to one task a rule matched."""
    kind: str  # pull, exit or unhealthy
    image: str
    reason: Optional[str]  # pull: the stopped reason; exit: the container's reason
    exit_code: Optional[int]
    after: float  # exit, unhealthy: seconds the task runs (healthy) first
    stop_after: float = 0.0  # unhealthy: seconds until ECS stops the unhealthy task


class TaskRule:
    FIELDS = {"image", "failure", "service", "cluster", "reason", "exit_code", "after_ms", "stop_after_ms", "times"}

    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("each rule must be an object")
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}")
        self.image, self.failure = spec.get("image"), spec.get("failure")
        if not isinstance(self.image, str) or not self.image:
            raise ValueError("a rule needs image (a container image, or a pattern with * and ?)")
        if self.failure not in TASK_FAILURES:
            raise ValueError(f"failure must be one of {list(TASK_FAILURES)}")
        self.service, self.cluster, self.reason = spec.get("service"), spec.get("cluster"), spec.get("reason")
        for name in ("service", "cluster", "reason"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        self.exit_code = spec.get("exit_code", {"exit": 1, "unhealthy": 137}.get(self.failure))
        self.after_ms = spec.get("after_ms", 0)
        self.stop_after_ms = spec.get("stop_after_ms", 500)
        self.times = spec.get("times")
        for name, low in (("exit_code", 0), ("after_ms", 0), ("stop_after_ms", 0), ("times", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"{name} must be an integer of at least {low}")
        self.matched = 0

    def match(self, containers: list, service: str, cluster: str) -> Optional[str]:
        """The image this rule fails in a task of these containers [(image, essential)], if any."""
        if self.times is not None and self.matched >= self.times:
            return None
        if self.service not in (None, service) or self.cluster not in (None, cluster):
            return None
        for image, essential in containers:
            if (essential or self.failure == "pull") and fnmatch.fnmatchcase(image or "", self.image):
                return image
        return None

    def describe(self) -> dict:
        return {"image": self.image, "failure": self.failure, "service": self.service, "cluster": self.cluster,
                "reason": self.reason, "exit_code": self.exit_code, "after_ms": self.after_ms,
                "stop_after_ms": self.stop_after_ms, "times": self.times, "matched": self.matched}


class State:
    """Everything localaws adds to moto. One re-entrant lock guards it all: the scheduler holds
    it for a whole tick, overlays and control calls for a moment."""

    def __init__(self, default_account: str = DEFAULT_ACCOUNT):
        self.lock = threading.RLock()
        self.default_account = default_account
        # Where the scheduler runs: every (account, region) seen in a request, and always the
        # default account in us-east-1.
        self.scopes = {Scope(default_account, DEFAULT_REGION)}
        self.tasks = {}  # task ARN -> TaskRecord
        self.services = {}  # service ARN -> ServiceRecord
        self.instances = {}  # (scope, cluster name) -> set of EC2 ids registered in the cluster
        self.stacks = {}  # (scope, stack id) -> (status, updated, resources)
        self.task_definitions = {}  # task definition ARN -> (container name, container port)
        self.stack_task_definitions = {}  # service ARN -> its stack's task definition, last seen
        # target group ARN -> {(target id or None, port or None): (state, reason, description)}
        self.target_health = {}
        self.paused = False
        self.task_rules = [TaskRule(r) for r in DEFAULT_TASK_RULES]
        self.task_definition_images = {}  # task definition ARN -> [(image, essential)]

    def reset(self) -> None:
        """moto was reset: forget everything about its resources, keep settings."""
        with self.lock:
            self.tasks.clear()
            self.services.clear()
            self.instances.clear()
            self.stacks.clear()
            self.task_definitions.clear()
            self.stack_task_definitions.clear()
            self.target_health.clear()
            self.task_definition_images.clear()

    def find_task(self, cluster: str, task: str, scope: Optional[Scope] = None) -> Optional[TaskRecord]:
        for record in self.tasks.values():
            if (record.arn == task or short_id(record.arn) == task) and \
                    cluster in (record.cluster_arn, short_id(record.cluster_arn)) and \
                    (scope is None or scope_of_arn(record.cluster_arn) == scope):
                return record
        return None

    def service_tasks(self, cluster_arn: str, name: str) -> list:
        group = f"service:{name}"
        return [t for t in self.tasks.values() if t.cluster_arn == cluster_arn and t.group == group]

    def managed_targets(self, target_group: str) -> dict:
        """(instance id, port) -> task ARN for every target the scheduler registered."""
        found = {}
        for service in self.services.values():
            found.update(service.targets.get(target_group, {}))
        return found


# --------------------------------------------------------------------------------------------
# The scheduler: what ECS does and moto does not
# --------------------------------------------------------------------------------------------

class Scheduler(threading.Thread):
    def __init__(self, state: State, moto: MotoClients, tick_seconds: float):
        super().__init__(name="scheduler", daemon=True)
        self.state = state
        self.moto = moto
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()
        self.failures = {}  # what -> last error, to log a repeated failure once

    def run(self) -> None:
        while not self.stopping.wait(self.tick_seconds):
            with self.state.lock:
                for scope in sorted(self.state.scopes):
                    self.attempt(f"tick in {scope}", self.tick, scope)

    def attempt(self, what: str, function, *args):
        """Runs one piece of a tick and returns its result; a failure (moto answering oddly, a
        resource deleted meanwhile) is logged once, gives None and is retried next tick without
        stopping the other pieces."""
        try:
            result = function(*args)
            self.failures.pop(what, None)
            return result
        except Exception as error:
            if self.failures.get(what) != str(error):
                self.failures[what] = str(error)
                log.warning("scheduler: %s failed: %s", what, error, exc_info=log.isEnabledFor(logging.DEBUG))
            return None

    def tick(self, scope: Scope) -> None:
        clusters, services_by_stack, deleted = self.read_stacks(scope)
        for cluster_name, asg_name in clusters:
            self.attempt(f"registering instances of {cluster_name}", self.register_instances,
                         scope, cluster_name, asg_name)
        for cluster_arn in self.moto("ecs", scope).list_clusters()["clusterArns"]:
            self.attempt(f"scheduling {cluster_arn}", self.schedule_cluster,
                         scope, cluster_arn, services_by_stack, deleted)

    def schedule_cluster(self, scope: Scope, cluster_arn: str, services_by_stack: dict, deleted: set) -> None:
        self.sync_tasks(scope, cluster_arn)
        seen = set()
        for service in self.describe_services(scope, cluster_arn):
            seen.add(service["serviceArn"])
            gone = service["status"] != "ACTIVE" or service["serviceArn"] in deleted
            stack = services_by_stack.get(service["serviceArn"], StackService(None, None))
            if not gone and self.stack_changed_task_definition(service, stack):
                service = self.attempt(f"following the stack of {service['serviceArn']}",
                                       self.follow_stack_task_definition, scope, service,
                                       stack.task_definition) or service
            target_group = stack.target_group or next(
                (lb.get("targetGroupArn") for lb in service.get("loadBalancers", [])), None)
            self.attempt(f"scheduling {service['serviceArn']}", self.reconcile_service,
                         scope, service, target_group, gone)
        # A service that moto no longer lists at all: its tasks must not outlive it.
        for record in list(self.state.services.values()):
            if record.cluster_arn == cluster_arn and record.arn not in seen:
                self.scale_in(scope, record, self.live_tasks(record), "the service is gone")
                self.sync_targets(scope, record)

    # -- CloudFormation: which cluster owns which instances, which service which target group

    def read_stacks(self, scope: Scope) -> tuple:
        """Pairs each stack's ECS cluster with its auto scaling group and each ECS service with
        its stack's target group and task definition. Returns (cluster pairs, service ARN ->
        StackService, service ARNs whose stack was deleted)."""
        cfn = self.moto("cloudformation", scope)
        summaries = []
        for page in cfn.get_paginator("list_stacks").paginate():
            summaries.extend(page["StackSummaries"])
        clusters, services, deleted = [], {}, set()
        for summary in summaries:
            key = (scope, summary["StackId"])
            status = summary["StackStatus"]
            updated = str(summary.get("LastUpdatedTime", summary.get("CreationTime")))
            cached = self.state.stacks.get(key)
            if status in LIVE_STACK_STATES and (cached is None or cached[:2] != (status, updated)):
                resources = cfn.describe_stack_resources(StackName=summary["StackId"])["StackResources"]
                by_type = {}
                for r in resources:
                    by_type.setdefault(r["ResourceType"], []).append(r.get("PhysicalResourceId"))
                cached = (status, updated, by_type)
                self.state.stacks[key] = cached
            if cached is None:
                continue
            by_type = cached[2]
            ecs_services = by_type.get("AWS::ECS::Service", [])
            if status == "DELETE_COMPLETE":
                deleted.update(ecs_services)
                continue
            for cluster in by_type.get("AWS::ECS::Cluster", [])[:1]:
                for asg in by_type.get("AWS::AutoScaling::AutoScalingGroup", [])[:1]:
                    clusters.append((cluster, asg))
            if len(ecs_services) == 1:
                # One service with one target group and one task definition: they belong
                # together (Berth's service.yaml). Anything else is left unpaired.
                groups = by_type.get("AWS::ElasticLoadBalancingV2::TargetGroup", [])
                definitions = by_type.get("AWS::ECS::TaskDefinition", [])
                services[ecs_services[0]] = StackService(groups[0] if len(groups) == 1 else None,
                                                         definitions[0] if len(definitions) == 1 else None)
        # A service name reused by a live stack is alive again.
        return clusters, services, deleted - set(services)

    def stack_changed_task_definition(self, service: dict, stack: "StackService") -> bool:
        """True once for each new task definition of the service's stack that the service does
        not run: a later UpdateService by someone else is theirs to keep (drift, as in AWS)."""
        seen = self.state.stack_task_definitions.get(service["serviceArn"])
        if not stack.task_definition or seen == stack.task_definition:
            return False
        self.state.stack_task_definitions[service["serviceArn"]] = stack.task_definition
        return stack.task_definition != service["taskDefinition"]

    def follow_stack_task_definition(self, scope: Scope, service: dict, task_definition: str) -> dict:
        """A stock moto's stack update registers the new task definition revision but leaves
        the service on the old one (the service's own template did not change); CloudFormation
        updates the service. Do what CloudFormation would have done. (The moto localaws starts,
        patched_moto.py, updates the service itself, so this finds it there already.)"""
        name, _ = self.container_of(scope, task_definition)
        if name is None:  # an unpatched moto (--moto-url) registered a revision without containers
            raise RuntimeError(f"{task_definition} has no containers (moto's stack update bug, "
                               "fixed only in the moto localaws starts): not moving the service to it")
        log.info("moving %s to %s, as its stack update would have", service["serviceName"], task_definition)
        return self.moto("ecs", scope).update_service(
            cluster=service["clusterArn"], service=service["serviceArn"], taskDefinition=task_definition)["service"]

    def register_instances(self, scope: Scope, cluster: str, asg_name: str) -> None:
        """What the ECS agent does when an instance boots with ECS_CLUSTER set."""
        autoscaling, ecs = self.moto("autoscaling", scope), self.moto("ecs", scope)
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
        wanted = [i["InstanceId"] for g in groups["AutoScalingGroups"] for i in g["Instances"]
                  if i["LifecycleState"] == "InService"]
        known = self.state.instances.get((scope, cluster))
        if known is None:  # first look (or after a restart against a running moto)
            arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
            known = set()
            if arns:
                described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
                known = {c["ec2InstanceId"] for c in described["containerInstances"]}
            self.state.instances[(scope, cluster)] = known
        for instance_id in wanted:
            if instance_id not in known:
                ecs.register_container_instance(
                    cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance_id}))
                known.add(instance_id)
                log.info("registered %s as a container instance of %s", instance_id, cluster)

    # -- tasks: moto says which exist and which stopped; localaws adds the rest

    def sync_tasks(self, scope: Scope, cluster_arn: str) -> None:
        """Adopts tasks started by anyone, and notices tasks stopped through StopTask."""
        ecs = self.moto("ecs", scope)
        running = ecs.list_tasks(cluster=cluster_arn, desiredStatus="RUNNING")["taskArns"]
        stopped = ecs.list_tasks(cluster=cluster_arn, desiredStatus="STOPPED")["taskArns"]
        tasks = self.state.tasks
        news = [a for a in running + stopped if a not in tasks]
        stopped_now = [a for a in stopped if a in tasks and tasks[a].live]
        for task in describe_tasks(ecs, cluster_arn, news + stopped_now):
            record = tasks.get(task["taskArn"])
            if record is None:
                self.adopt(scope, task)
            elif task["lastStatus"] == "STOPPED":
                # Stopped by a StopTask call that did not go through the control API.
                mark_stopped(record, task.get("stoppedReason") or "Task stopped by user",
                             "UserInitiated", 0)

    def adopt(self, scope: Scope, task: dict) -> TaskRecord:
        stopped = task["lastStatus"] == "STOPPED"
        record = TaskRecord(
            arn=task["taskArn"], cluster_arn=task["clusterArn"], group=task.get("group", ""),
            started_by=task.get("startedBy", ""), task_definition=task["taskDefinitionArn"],
            container_instance=task.get("containerInstanceArn"),
            phase="STOPPED" if stopped else "RUNNING", created_at=now(),
            started_at=now(), health="UNKNOWN" if stopped else "HEALTHY",
        )
        if stopped:
            mark_stopped(record, task.get("stoppedReason") or "", "UserInitiated", 0)
        self.place(scope, record)
        self.state.tasks[record.arn] = record
        return record

    def place(self, scope: Scope, record: TaskRecord) -> None:
        """Finds the task's EC2 instance and gives it a dynamic host port, as the agent would."""
        name, port = self.container_of(scope, record.task_definition)
        record.container_port = port
        if not record.container_instance:
            return
        ecs = self.moto("ecs", scope)
        described = ecs.describe_container_instances(
            cluster=record.cluster_arn, containerInstances=[record.container_instance])
        for instance in described["containerInstances"]:
            record.instance_id = instance["ec2InstanceId"]
        if port is not None:
            used = {t.host_port for t in self.state.tasks.values()
                    if t.live and t.container_instance == record.container_instance}
            record.host_port = next(p for p in range(EPHEMERAL_PORT_START, 65536) if p not in used)

    def container_of(self, scope: Scope, task_definition: str) -> tuple:
        """(name, port) of the task definition's first container that maps a port."""
        if task_definition not in self.state.task_definitions:
            described = self.moto("ecs", scope).describe_task_definition(taskDefinition=task_definition)
            found = (None, None)
            for container in described["taskDefinition"]["containerDefinitions"]:
                mappings = container.get("portMappings", [])
                if mappings:
                    found = (container["name"], mappings[0]["containerPort"])
                    break
            self.state.task_definitions[task_definition] = found
        return self.state.task_definitions[task_definition]

    # -- services

    def describe_services(self, scope: Scope, cluster_arn: str) -> list:
        ecs = self.moto("ecs", scope)
        arns = ecs.list_services(cluster=cluster_arn)["serviceArns"]
        services = []
        for i in range(0, len(arns), 10):
            services.extend(ecs.describe_services(cluster=cluster_arn, services=arns[i:i + 10])["services"])
        return services

    def service_record(self, scope: Scope, service: dict, target_group: Optional[str]) -> ServiceRecord:
        record = self.state.services.get(service["serviceArn"])
        if record is None:
            record = ServiceRecord(arn=service["serviceArn"], name=service["serviceName"],
                                   cluster_arn=service["clusterArn"])
            self.state.services[record.arn] = record
        record.target_group = target_group
        record.container_name, record.container_port = self.container_of(scope, service["taskDefinition"])
        self.follow_deployments(record, service)
        return record

    def follow_deployments(self, record: ServiceRecord, service: dict) -> None:
        """moto keeps one deployment whose task definition never changes; ECS starts a new
        PRIMARY deployment for every new task definition (or forced deployment) and keeps the
        old one ACTIVE until its tasks are replaced."""
        moto_deployment = (service.get("deployments") or [{}])[0]
        moto_id = moto_deployment.get("id")
        task_definition = service["taskDefinition"]
        primary = record.primary
        if primary is not None and primary.task_definition == task_definition \
                and moto_id == record.moto_deployment_id:
            return
        if primary is None:
            created = moto_deployment.get("createdAt")
            created = created.timestamp() if hasattr(created, "timestamp") else now()
            deployment = Deployment(moto_id or new_deployment_id(), task_definition, created, created)
        else:
            deployment_id = moto_id if moto_id != record.moto_deployment_id else new_deployment_id()
            deployment = Deployment(deployment_id, task_definition, now(), now())
            primary.status = "ACTIVE"
            record.steady = False
        record.deployments.insert(0, deployment)
        record.moto_deployment_id = moto_id

    def live_tasks(self, record: ServiceRecord) -> list:
        return [t for t in self.state.service_tasks(record.cluster_arn, record.name) if t.live]

    def reconcile_service(self, scope: Scope, service: dict, target_group: Optional[str], gone: bool) -> None:
        record = self.service_record(scope, service, target_group)
        tasks = self.live_tasks(record)
        if gone:
            self.scale_in(scope, record, tasks, "the service was deleted")
            self.sync_targets(scope, record)
            return
        desired = service["desiredCount"]
        if not self.state.paused:
            self.run_task_failures(scope, record)
            self.circuit_breaker(scope, record, service, desired)
            tasks = self.live_tasks(record)
        primary = record.primary
        current = [t for t in tasks if belongs_to(t, primary, record)]
        old = [t for t in tasks if t not in current]
        if len(current) < desired and self.may_launch(record):
            self.launch(scope, record, desired - len(current))
        if self.state.paused:
            return  # launched tasks stay PENDING; nothing else moves
        for task in current:
            if task.phase == "PENDING" and not (task.failure and task.failure.kind == "pull"):
                task.phase, task.started_at, task.health = "RUNNING", now(), "HEALTHY"
        if len(current) > desired:
            extras = sorted(current, key=lambda t: (t.phase != "PENDING", -(t.started_at or 0)))
            self.stop(scope, record, extras[:len(current) - desired])
        running = [t for t in self.live_tasks(record) if belongs_to(t, primary, record) and t.phase == "RUNNING"
                   and t.failure is None]  # a task that is going to fail never passes its health checks
        if old and len(running) >= desired:
            self.stop(scope, record, old)  # the new deployment is up: retire the old one
        self.sync_targets(scope, record)
        self.settle(record, desired)

    def launch(self, scope: Scope, record: ServiceRecord, count: int) -> None:
        ecs = self.moto("ecs", scope)
        try:
            answer = ecs.run_task(cluster=record.cluster_arn, taskDefinition=record.primary.task_definition,
                                  count=count, launchType="EC2", startedBy=record.primary.id,
                                  group=f"service:{record.name}")
            tasks = answer["tasks"]
        except Exception as error:  # moto raises a bare 500 when the cluster has no instances
            log.debug("run_task for %s failed: %s", record.name, error)
            tasks = []
        for task in tasks:
            created = self.adopt(scope, task)
            created.phase, created.started_at, created.health = "PENDING", None, "UNKNOWN"
            created.failure = self.attempt(f"matching {created.arn} with the task failure rules",
                                           self.failure_for, scope, record, created)
        if tasks:
            names = " ".join(f"(task {short_id(t['taskArn'])})" for t in tasks)
            message = f"(service {record.name}) has started {len(tasks)} tasks: {names}."
            replaced = min(record.unhealthy_replaced, len(tasks))
            if replaced:
                record.unhealthy_replaced -= replaced
                message += f" Amazon ECS replaced {replaced} tasks due to an unhealthy status."
            record.event(message)
            record.steady = False
        if len(tasks) < count and now() - record.last_placement_failure > 60:
            record.last_placement_failure = now()
            record.event(f"(service {record.name}) was unable to place a task because no container "
                         "instance met all of its requirements.")

    def stop(self, scope: Scope, record: ServiceRecord, tasks: list, reason: Optional[str] = None,
             exit_code: Optional[int] = 0) -> None:
        """The scheduler stops tasks (scale-in, replaced deployment, deleted service, failed
        health checks)."""
        if not tasks:
            return
        reason = reason or f"Scaling activity initiated by (deployment {record.primary.id})"
        for task in tasks:
            mark_stopped(task, reason, "ServiceSchedulerInitiated", exit_code)
        self.sync_targets(scope, record)  # ECS drains a task's target before stopping it
        for task in tasks:
            self.moto("ecs", scope).stop_task(cluster=task.cluster_arn, task=task.arn, reason=reason)
        names = " ".join(f"(task {short_id(t.arn)})" for t in tasks)
        record.event(f"(service {record.name}) has stopped {len(tasks)} running tasks: {names}.")
        record.steady = False

    # -- task failures (rules set through the control API) and the deployment circuit breaker

    def images_of(self, scope: Scope, task_definition: str) -> list:
        """[(image, essential)] of the task definition's containers."""
        if task_definition not in self.state.task_definition_images:
            described = self.moto("ecs", scope).describe_task_definition(taskDefinition=task_definition)
            self.state.task_definition_images[task_definition] = [
                (c.get("image") or "", c.get("essential", True) is not False)
                for c in described["taskDefinition"]["containerDefinitions"]]
        return self.state.task_definition_images[task_definition]

    def failure_for(self, scope: Scope, record: ServiceRecord, task: TaskRecord) -> Optional[TaskFailure]:
        rules = self.state.task_rules
        if not rules:
            return None
        containers = self.images_of(scope, task.task_definition)
        for rule in rules:
            image = rule.match(containers, record.name, short_id(record.cluster_arn))
            if image is not None:
                rule.matched += 1
                log.info("task %s of %s will fail: %s (%s)", short_id(task.arn), record.name, rule.failure, image)
                return TaskFailure(rule.failure, image, rule.reason, rule.exit_code, rule.after_ms / 1000,
                                   rule.stop_after_ms / 1000)
        return None

    def run_task_failures(self, scope: Scope, record: ServiceRecord) -> None:
        """What the agent and ECS do to tasks a rule fails: an image that cannot be pulled stops
        the task before it runs; an essential container that exits stops it; a failing
        container health check makes it UNHEALTHY, and ECS then stops it."""
        for task in self.live_tasks(record):
            failure = task.failure
            if failure is None:
                continue
            if failure.kind == "pull" and task.phase == "PENDING":
                reason = failure.reason or PULL_ERROR.format(image=failure.image)
                self.task_failed(scope, record, task, reason, "TaskFailedToStart", None, reason, never_ran=True)
            elif failure.kind == "exit" and task.phase == "RUNNING" and now() - task.started_at >= failure.after:
                self.task_failed(scope, record, task, "Essential container in task exited", "EssentialContainerExited",
                                 failure.exit_code, failure.reason)
            elif failure.kind == "unhealthy" and task.phase == "RUNNING":
                if task.unhealthy_since is None:
                    if now() - task.started_at >= failure.after:
                        task.health, task.unhealthy_since = "UNHEALTHY", now()
                        record.steady = False
                    continue
                if now() - task.unhealthy_since < max(failure.stop_after, self.tick_seconds / 2):
                    continue
                # Unhealthy for long enough: ECS replaces the task.
                record.event(f"(service {record.name}) (task {short_id(task.arn)}) failed container health checks.")
                self.stop(scope, record, [task], "Task failed container health checks", failure.exit_code)
                task.failed, task.container_reason = True, failure.reason
                record.unhealthy_replaced += 1
                self.note_failure(record)

    def task_failed(self, scope: Scope, record: ServiceRecord, task: TaskRecord, reason: str, stop_code: str,
                    exit_code: Optional[int], container_reason: Optional[str], never_ran: bool = False) -> None:
        mark_stopped(task, reason, stop_code, exit_code, container_reason)
        task.failed, task.never_ran = True, never_ran
        self.moto("ecs", scope).stop_task(cluster=task.cluster_arn, task=task.arn, reason=reason)
        log.info("task %s of %s stopped: %s", short_id(task.arn), record.name, reason)
        self.note_failure(record)

    def note_failure(self, record: ServiceRecord) -> None:
        """ECS starts the next tasks later and later after tasks keep failing."""
        record.consecutive_failures += 1
        record.steady = False
        n = record.consecutive_failures
        record.next_launch_at = now() + self.tick_seconds * (min(2 ** (n - 1), 64) - 1)
        if n == 3 and not record.circuit_breaker[0]:
            record.event(f"(service {record.name}) is unable to consistently start tasks successfully. For more "
                         "information, see the Troubleshooting section of the Amazon ECS Developer Guide.")

    def may_launch(self, record: ServiceRecord) -> bool:
        """A deployment the circuit breaker failed starts no tasks; after failures ECS waits."""
        return not record.primary.failed and now() >= record.next_launch_at

    def circuit_breaker(self, scope: Scope, record: ServiceRecord, service: dict, desired: int) -> None:
        """ECS's deployment circuit breaker: once the primary deployment has as many failed tasks
        as the threshold (half the desired count, at least 3, at most 200) before it completed,
        it is FAILED; with rollback, the last completed deployment becomes primary again."""
        breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
        record.circuit_breaker = (bool(breaker.get("enable")), bool(breaker.get("rollback")))
        primary = record.primary
        if not record.circuit_breaker[0] or primary is None or primary.completed or primary.failed:
            return
        tasks = self.state.service_tasks(record.cluster_arn, record.name)
        failed = sum(counts_as_failed(t) for t in tasks if belongs_to(t, primary, record))
        if failed < min(max(-(-desired // 2), 3), 200):
            return
        primary.failed, primary.updated_at = True, now()
        record.event(f"(service {record.name}) (deployment {primary.id}) deployment failed: tasks failed to start.")
        log.info("deployment %s of %s failed after %d failed tasks", primary.id, record.name, failed)
        target = next((d for d in record.deployments[1:] if d.completed and not d.failed), None)
        if not record.circuit_breaker[1] or target is None:
            return  # no rollback: the deployment stays FAILED and starts no more tasks
        record.event(f"(service {record.name}) rolling back to deployment {target.id}.")
        self.moto("ecs", scope).update_service(cluster=record.cluster_arn, service=record.arn,
                                                taskDefinition=target.task_definition)
        primary.status = "ACTIVE"
        record.deployments.remove(target)
        target.status, target.completed, target.rolling_back, target.updated_at = "PRIMARY", False, True, now()
        record.deployments.insert(0, target)
        record.consecutive_failures, record.next_launch_at = 0, 0.0

    def scale_in(self, scope: Scope, record: ServiceRecord, tasks: list, why: str) -> None:
        if tasks:
            log.info("stopping %d tasks of %s: %s", len(tasks), record.name, why)
            self.stop(scope, record, tasks)

    def sync_targets(self, scope: Scope, record: ServiceRecord) -> None:
        """One target per running task (instance id + host port, as ECS registers bridge-mode
        tasks); targets of stopped tasks are deregistered."""
        wanted = {}
        if record.target_group:
            for task in self.live_tasks(record):
                if task.phase == "RUNNING" and task.instance_id and task.host_port:
                    wanted[(task.instance_id, task.host_port)] = task.arn
        for group in set(record.targets) | ({record.target_group} if record.target_group else set()):
            have = record.targets.get(group, {})
            want = wanted if group == record.target_group else {}
            added = {k: v for k, v in want.items() if k not in have}
            removed = {k: v for k, v in have.items() if k not in want}
            if not added and not removed:
                continue
            record.targets[group] = dict(want)
            self.apply_targets(scope, group, added, removed)
            if added:  # new tasks take traffic before old ones are drained, as in ECS
                record.event(f"(service {record.name}) registered {len(added)} targets in (target-group {group})")
            if removed:
                record.event(f"(service {record.name}) has begun draining connections on {len(removed)} tasks.")
                record.event(f"(service {record.name}) deregistered {len(removed)} targets in (target-group {group})")

    def apply_targets(self, scope: Scope, group: str, added: dict, removed: dict) -> None:
        """moto keys a group's targets by instance id alone, so two tasks on one instance are
        one moto target: register each instance while any of its tasks runs, deregister it
        when none does. DescribeTargetHealth is answered per task from the scheduler's list."""
        elb = self.moto("elbv2", scope)
        still = {instance for instance, _ in self.state.managed_targets(group)}
        if added:
            elb.register_targets(TargetGroupArn=group,
                                 Targets=[{"Id": i, "Port": p} for i, p in added])
        gone = {instance for instance, _ in removed if instance not in still}
        if gone:
            try:
                elb.deregister_targets(TargetGroupArn=group, Targets=[{"Id": i} for i in gone])
            except Exception as error:  # the target group may be gone with its stack
                log.debug("deregistering from %s: %s", group, error)

    def settle(self, record: ServiceRecord, desired: int) -> None:
        """Steady state: the primary deployment runs its desired count and nothing else runs."""
        if record.primary.rolling_back and now() - record.primary.updated_at < 10 * self.tick_seconds:
            return  # ECS takes a while to find the rolled-back deployment steady
        tasks = self.live_tasks(record)
        running = [t for t in tasks if t.phase == "RUNNING" and belongs_to(t, record.primary, record)
                   and t.failure is None]
        steady = len(running) == desired and len(tasks) == desired
        if not steady:
            return
        record.deployments = [d for d in record.deployments if d.status == "PRIMARY"]
        record.consecutive_failures, record.next_launch_at = 0, 0.0
        primary = record.primary
        if not primary.completed:
            primary.completed, primary.rolling_back, primary.updated_at = True, False, now()
            record.event(f"(service {record.name}) (deployment {primary.id}) deployment completed.")
        if not record.steady:
            record.steady = True
            record.event(f"(service {record.name}) has reached a steady state.")


def belongs_to(task: TaskRecord, deployment: Deployment, record: ServiceRecord) -> bool:
    """A task belongs to the deployment that started it; a task started by someone else counts
    for the primary deployment when it runs the primary's task definition."""
    if task.started_by == deployment.id:
        return True
    others = {d.id for d in record.deployments}
    return task.started_by not in others and task.task_definition == deployment.task_definition


def counts_as_failed(task: TaskRecord) -> bool:
    """A failed task of its deployment (failedTasks, the circuit breaker)."""
    return task.failed or task.stop_code in ("EssentialContainerExited", "TaskFailedToStart")


_SAME = object()


def mark_stopped(record: TaskRecord, reason: str, stop_code: str, exit_code: Optional[int],
                 container_reason=_SAME) -> None:
    if not record.live and record.stopped_at:
        return
    record.phase, record.stopped_at = "STOPPED", now()
    record.stopped_reason, record.stop_code, record.exit_code = reason, stop_code, exit_code
    record.container_reason = (reason or "") if container_reason is _SAME else container_reason
    record.health = "UNKNOWN"


def describe_tasks(ecs, cluster: str, arns: list) -> list:
    """DescribeTasks in batches of 100 (moto, like ECS, refuses an empty list)."""
    tasks = []
    for i in range(0, len(arns), 100):
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"])
    return tasks


# --------------------------------------------------------------------------------------------
# Overlays: rewrite moto's answers to the read calls it gets wrong
# --------------------------------------------------------------------------------------------

def overlay_describe_services(ctx, call, body: dict) -> dict:
    with ctx.state.lock:
        for service in body.get("services", []):
            record = ctx.state.services.get(service.get("serviceArn"))
            tasks = ctx.state.service_tasks(service.get("clusterArn"), service.get("serviceName"))
            live = [t for t in tasks if t.live]
            service["runningCount"] = sum(t.phase == "RUNNING" for t in live)
            service["pendingCount"] = sum(t.phase == "PENDING" for t in live)
            if record is None:
                service["events"] = []
                for deployment in service.get("deployments", []):
                    deployment["runningCount"] = service["runningCount"]
                    deployment["pendingCount"] = service["pendingCount"]
                continue
            service["deployments"] = deployments_of(record, service, tasks)
            service["events"] = list(reversed(record.events))
            if not service.get("loadBalancers") and record.target_group and record.container_name:
                # moto drops the LoadBalancers of a service created by CloudFormation.
                service["loadBalancers"] = [{"targetGroupArn": record.target_group,
                                             "containerName": record.container_name,
                                             "containerPort": record.container_port}]
    return body


def deployments_of(record: ServiceRecord, service: dict, tasks: list) -> list:
    template = (service.get("deployments") or [{}])[0]
    answer = []
    for deployment in record.deployments:
        mine = [t for t in tasks if belongs_to(t, deployment, record)]
        live = [t for t in mine if t.live]
        primary = deployment.status == "PRIMARY"
        state = "COMPLETED" if deployment.completed else "IN_PROGRESS"
        entry = dict(template)
        entry.update({
            "id": deployment.id,
            "status": deployment.status,
            "taskDefinition": deployment.task_definition,
            "desiredCount": service.get("desiredCount", 0) if primary else len(live),
            "runningCount": sum(t.phase == "RUNNING" for t in live),
            "pendingCount": sum(t.phase == "PENDING" for t in live),
            "failedTasks": sum(counts_as_failed(t) for t in mine),
            "createdAt": deployment.created_at,
            "updatedAt": deployment.updated_at,
            "rolloutState": state,
            "rolloutStateReason": f"ECS deployment {deployment.id} {state.lower().replace('_', ' ')}.",
        })
        if deployment.failed:
            entry["rolloutState"] = "FAILED"
            entry["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        elif deployment.rolling_back:
            entry["rolloutStateReason"] = f"ECS deployment circuit breaker: rolling back to deploymentId {deployment.id}."
        answer.append(entry)
    return answer


def overlay_describe_tasks(ctx, call, body: dict) -> dict:
    with ctx.state.lock:
        for task in body.get("tasks", []):
            record = ctx.state.tasks.get(task.get("taskArn"))
            if record is None:  # started since the last tick
                record = ctx.scheduler.adopt(call.scope, task)
            rewrite_task(task, record)
    return body


def rewrite_task(task: dict, record: TaskRecord) -> None:
    task["lastStatus"] = record.phase
    task["desiredStatus"] = "STOPPED" if record.phase == "STOPPED" else "RUNNING"
    task["createdAt"] = record.created_at
    task["healthStatus"] = record.health
    if record.started_at:
        task["startedAt"] = record.started_at
    if record.phase == "STOPPED":
        for key in ("stoppingAt", "executionStoppedAt", "stoppedAt"):
            task[key] = record.stopped_at
        task["stopCode"] = record.stop_code
        task["stoppedReason"] = record.stopped_reason or ""
    else:
        for key in ("stoppingAt", "executionStoppedAt", "stoppedAt", "stopCode"):
            task.pop(key, None)
        if not task.get("stoppedReason"):
            task.pop("stoppedReason", None)
    for container in task.get("containers", []):
        container["taskArn"] = record.arn  # moto puts the task definition's ARN here
        container["lastStatus"] = record.phase
        container["healthStatus"] = record.health if record.phase == "RUNNING" else "UNKNOWN"
        if record.phase == "STOPPED":
            if record.never_ran:  # its container never started (the image could not be pulled)
                container.pop("exitCode", None)
            else:
                container["exitCode"] = record.exit_code if record.exit_code is not None else 0
            if record.container_reason is None:
                container.pop("reason", None)
            else:
                container["reason"] = record.container_reason
            container["networkBindings"] = []
        else:
            container.pop("exitCode", None)  # a container that has not exited has no exit code
            if record.phase == "RUNNING" and record.host_port:
                container["networkBindings"] = [{"bindIP": "0.0.0.0", "containerPort": record.container_port,
                                                 "hostPort": record.host_port, "protocol": "tcp"}]


def overlay_list_tasks(ctx, call, body: dict) -> dict:
    """moto ignores serviceName, and without desiredStatus it lists stopped tasks too; ECS
    lists only tasks whose desired status is RUNNING unless asked for STOPPED."""
    request = call.params
    service = request.get("serviceName")
    wanted_status = request.get("desiredStatus") or "RUNNING"
    if service and service.startswith("arn:"):
        service = short_id(service)
    arns = body.get("taskArns", [])
    if not arns:
        return body
    tasks = describe_tasks(ctx.moto("ecs", call.scope), request.get("cluster", "default"), arns)
    by_arn = {t["taskArn"]: t for t in tasks}
    kept = []
    with ctx.state.lock:
        for arn in arns:
            task = by_arn.get(arn)
            if task is None:
                continue
            record = ctx.state.tasks.get(arn)
            desired = ("STOPPED" if not record.live else "RUNNING") if record else task["desiredStatus"]
            if desired != wanted_status:
                continue
            if service and task.get("group") != f"service:{service}":
                continue
            kept.append(arn)
    body["taskArns"] = kept
    return body


TARGET_HEALTH_DEFAULTS = {
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
    "unavailable": ("Elb.InternalError", "Health checks are not available"),
}


def overlay_describe_target_health(ctx, call, body: bytes) -> bytes:
    request = call.params
    group = request.get("TargetGroupArn", "")
    asked = asked_targets(request)
    root = ET.fromstring(body)
    ns = {"e": ELB_NS}
    descriptions = root.find("e:DescribeTargetHealthResult/e:TargetHealthDescriptions", ns)
    request_id = root.findtext("e:ResponseMetadata/e:RequestId", "", ns)
    entries = [parse_target_entry(m, ns) for m in descriptions.findall("e:member", ns)]
    with ctx.state.lock:
        managed = ctx.state.managed_targets(group)
        overrides = dict(ctx.state.target_health.get(group, {}))
    managed_instances = {instance for instance, _ in managed}
    if asked:
        # moto answers healthy for any port of a registered instance: only the task's port is.
        for entry in entries:
            if entry["id"] in managed_instances and (entry["id"], entry["port"]) not in managed:
                entry.update(state="unused", reason="Target.NotRegistered",
                             description="Target is not registered to the target group")
    else:
        # moto keeps one target per instance: list one per task instead.
        entries = [e for e in entries if e["id"] not in managed_instances]
        entries += [{"id": i, "port": p, "hc_port": "traffic-port", "state": "healthy",
                     "reason": None, "description": None} for i, p in sorted(managed)]
    for entry in entries:
        override = overrides.get((entry["id"], entry["port"])) or overrides.get((entry["id"], None)) \
            or overrides.get((None, None))
        if override and entry["state"] == "healthy":
            entry["state"], entry["reason"], entry["description"] = override
    return render_target_health(entries, request_id)


def asked_targets(form: dict) -> list:
    """The Targets.member.N.Id / .Port pairs of a query-protocol request."""
    found = []
    n = 1
    while f"Targets.member.{n}.Id" in form:
        port = form.get(f"Targets.member.{n}.Port")
        found.append((form[f"Targets.member.{n}.Id"], int(port) if port else None))
        n += 1
    return found


def parse_target_entry(member, ns) -> dict:
    port = member.findtext("e:Target/e:Port", None, ns)
    return {
        "id": member.findtext("e:Target/e:Id", "", ns),
        "port": int(port) if port else None,
        "hc_port": member.findtext("e:HealthCheckPort", None, ns),
        "state": member.findtext("e:TargetHealth/e:State", "", ns),
        "reason": member.findtext("e:TargetHealth/e:Reason", None, ns),
        "description": member.findtext("e:TargetHealth/e:Description", None, ns),
    }


def render_target_health(entries: list, request_id: str) -> bytes:
    def text(parent, tag, value):
        if value is not None:
            ET.SubElement(parent, tag).text = str(value)

    root = ET.Element("DescribeTargetHealthResponse", xmlns=ELB_NS)
    result = ET.SubElement(ET.SubElement(root, "DescribeTargetHealthResult"), "TargetHealthDescriptions")
    for entry in entries:
        member = ET.SubElement(result, "member")
        target = ET.SubElement(member, "Target")
        text(target, "Id", entry["id"])
        text(target, "Port", entry["port"])
        text(member, "HealthCheckPort", entry["hc_port"])
        health = ET.SubElement(member, "TargetHealth")
        text(health, "State", entry["state"])
        text(health, "Reason", entry["reason"])
        text(health, "Description", entry["description"])
    text(ET.SubElement(root, "ResponseMetadata"), "RequestId", request_id)
    return ET.tostring(root, encoding="utf-8")


# (service, action) -> (overlay, protocol). Each overlay gets (context, call, moto's answer):
# JSON overlays take and return dicts, the XML one bytes.
OVERLAYS = {
    ("ecs", "DescribeServices"): (overlay_describe_services, "json"),
    ("ecs", "DescribeTasks"): (overlay_describe_tasks, "json"),
    ("ecs", "ListTasks"): (overlay_list_tasks, "json"),
    ("elasticloadbalancing", "DescribeTargetHealth"): (overlay_describe_target_health, "xml"),
}


# --------------------------------------------------------------------------------------------
# IAM's policy simulator, which moto lacks
# --------------------------------------------------------------------------------------------

def principal_policies(iam, arn: str) -> list:
    """The policy documents of an IAM user or role (attached and inline), as moto keeps them."""
    kind, _, name = arn.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    documents = []
    if kind == "user":
        attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        inline = [iam.get_user_policy(UserName=name, PolicyName=n)["PolicyDocument"]
                  for n in iam.list_user_policies(UserName=name)["PolicyNames"]]
    elif kind == "role":
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        inline = [iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
                  for n in iam.list_role_policies(RoleName=name)["PolicyNames"]]
    else:
        raise KeyError(f"not a user or role: {arn}")
    for policy in attached:
        version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)
                         ["PolicyVersion"]["Document"])
    documents.extend(inline)
    return [json.loads(urllib.parse.unquote(d)) if isinstance(d, str) else d for d in documents]


def evaluate(documents: list, action: str, resource: str) -> str:
    """allowed, explicitDeny or implicitDeny for one action on one resource. Actions and
    resources are matched with IAM's wildcards; conditions are not evaluated (a statement
    with a condition applies as if it held)."""
    import fnmatch

    def listed(value):
        return value if isinstance(value, list) else [value]

    decision = "implicitDeny"
    for document in documents:
        for statement in listed(document.get("Statement", [])):
            actions = listed(statement.get("Action", []))
            resources = listed(statement.get("Resource", "*"))
            if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
                continue
            if not any(r == "*" or fnmatch.fnmatchcase(resource, r) for r in resources) and resource != "*":
                continue
            if statement.get("Effect") == "Deny":
                return "explicitDeny"
            decision = "allowed"
    return decision


def simulate_principal_policy(ctx, call) -> tuple:
    params = call.params
    source = params.get("PolicySourceArn", "")
    actions = [v for k, v in sorted(params.items(), key=lambda kv: kv[0]) if k.startswith("ActionNames.member.")]
    resources = [v for k, v in params.items() if k.startswith("ResourceArns.member.")] or ["*"]
    iam = ctx.moto("iam", call.scope)
    try:
        documents = principal_policies(iam, source)
    except Exception as error:  # an unknown principal: IAM answers NoSuchEntity
        body = (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                f'<Code>NoSuchEntity</Code><Message>{source}: {error}</Message></Error>'
                f'<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>').encode()
        return 404, [("Content-Type", "text/xml")], body
    members = []
    for action in actions:
        for resource in resources:
            decision = evaluate(documents, action, resource)
            members.append(f"<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}"
                           f"</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements/>"
                           f"<MissingContextValues/></member>")
    body = ('<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            '<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>'
            + "".join(members) +
            f'</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{uuid.uuid4()}'
            '</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>').encode()
    return 200, [("Content-Type", "text/xml")], body


# Calls localaws answers itself, for what moto does not emulate.
ANSWERED_HERE = {
    ("iam", "SimulatePrincipalPolicy"): simulate_principal_policy,
}


# --------------------------------------------------------------------------------------------
# Fault injection and call statistics
# --------------------------------------------------------------------------------------------

class Faults:
    KINDS = ("throttle", "server_error", "lost_response", "delay")

    def __init__(self):
        self.lock = threading.Lock()
        self.configure({})
        self.calls = {}
        self.counts = dict.fromkeys(self.KINDS, 0)

    def configure(self, settings: dict) -> None:
        def share(name):
            value = float(settings.get(name, 0.0))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            return value

        with self.lock:
            self.throttle = share("throttle")
            self.server_error = share("server_error")
            self.lost_response = share("lost_response")
            self.delay_share = share("delay_share")
            self.delay_ms = int(settings.get("delay_ms", 0))
            self.services = set(settings["services"]) if settings.get("services") else None
            self.random = random.Random(settings.get("seed"))

    def draw(self, service: str) -> tuple:
        """(fault or None, delay in seconds) for one call to `service`."""
        with self.lock:
            if self.services is not None and service not in self.services:
                return None, 0.0
            delay = self.delay_ms / 1000 if self.random.random() < self.delay_share else 0.0
            if delay:
                self.counts["delay"] += 1
            r = self.random.random()
            fault = None
            for kind, share in (("throttle", self.throttle), ("server_error", self.server_error),
                                ("lost_response", self.lost_response)):
                if r < share:
                    fault = kind
                    break
                r -= share
            if fault:
                self.counts[fault] += 1
            return fault, delay

    def server_status(self) -> int:
        with self.lock:
            return self.random.choice((500, 503))

    def count_call(self, service: str, action: str) -> None:
        with self.lock:
            key = f"{service}:{action}"
            self.calls[key] = self.calls.get(key, 0) + 1

    def stats(self) -> dict:
        with self.lock:
            return {"calls": dict(sorted(self.calls.items())), "faults": dict(self.counts)}

    def reset_stats(self) -> None:
        with self.lock:
            self.calls.clear()
            self.counts = dict.fromkeys(self.KINDS, 0)


ERRORS = {  # kind -> (HTTP status, code, EC2's code, message)
    "throttle": (400, "Throttling", "RequestLimitExceeded", "Rate exceeded"),
    500: (500, "InternalFailure", "InternalError", "We encountered an internal error. Please try again."),
    503: (503, "ServiceUnavailable", "Unavailable", "Service is unavailable. Please try again later."),
}


def error_answer(kind, call) -> tuple:
    """(status, headers, body) of an AWS error in the call's protocol, as the AWS SDKs parse it:
    awsJson (`__type`), EC2 (`Response/Errors/Error`) or awsQuery (`ErrorResponse/Error`)."""
    status, code, ec2_code, message = ERRORS[kind]
    request_id = str(uuid.uuid4())
    if call.protocol == "json":
        if kind == "throttle":
            code = "ThrottlingException"
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, [("Content-Type", call.json_content_type), ("x-amzn-RequestId", request_id)], body
    if call.service == "ec2":
        if kind == "throttle":
            status = 503  # EC2 answers RequestLimitExceeded with 503
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{ec2_code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return status, [("Content-Type", "text/xml")], body.encode()
    kind_of_party = "Sender" if status < 500 else "Receiver"
    body = (f"<ErrorResponse><Error><Type>{kind_of_party}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()


# --------------------------------------------------------------------------------------------
# The HTTP front: control API, fault injection, forwarding, overlays
# --------------------------------------------------------------------------------------------

SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclasses.dataclass
class Call:
    """What the proxy needs to know about one AWS request."""
    service: str
    region: str
    action: str
    protocol: str  # json or query
    params: dict
    json_content_type: str = "application/x-amz-json-1.1"
    account: str = DEFAULT_ACCOUNT  # set by the proxy (Accounts.of)

    @property
    def scope(self) -> Scope:
        return Scope(self.account, self.region)


# moto's own pattern for the access key in a request's Authorization header
# (moto.core.responses.BaseResponse.access_key_regex).
MOTO_ACCESS_KEY = re.compile(r"AWS.*(?P<access_key>(?<![A-Z0-9])[A-Z0-9]{20}(?![A-Z0-9]))[:/]")
ACCOUNT_ID = re.compile(r"^\d{12}$")


class Accounts:
    """The account moto serves a request in, found as moto finds it
    (BaseResponse.get_current_account): its `x-moto-account-id` header if it has one, else the
    account whose IAM knows the request's access key (moto.iam.models.get_account_id_from:
    keys of IAM users, and the temporary keys STS AssumeRole issues, which belong to the
    role's account), else moto's default account. The key's account is asked from moto once
    (STS GetCallerIdentity with that key, answered from the same lookup) and remembered:
    moto never gives a key to another account, and a reset forgets them all."""

    def __init__(self, moto_url: str):
        parsed = urllib.parse.urlsplit(moto_url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.lock = threading.Lock()
        self.by_key = {}  # access key id (None: no key moto recognises) -> account id
        self.default = self.lookup(None) or DEFAULT_ACCOUNT

    def of(self, headers, path: str) -> str:
        header = headers.get("x-moto-account-id")
        if header:
            return header
        match = MOTO_ACCESS_KEY.search(headers.get("Authorization", ""))
        key = match.group(1) if match else \
            (urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("AWSAccessKeyId") or [None])[0]
        with self.lock:
            if key in self.by_key:
                return self.by_key[key]
        account = self.lookup(key)
        if account is None:  # moto did not answer: the default, asked again next time
            return self.default
        with self.lock:
            self.by_key[key] = account
        return account

    def lookup(self, key: Optional[str]) -> Optional[str]:
        """The account moto gives the access key `key` (None: one it does not recognise)."""
        authorization = (f"AWS4-HMAC-SHA256 Credential={key or 'localaws'}/20200101/{DEFAULT_REGION}/sts/"
                         "aws4_request, SignedHeaders=host, Signature=0")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                               headers={"Authorization": authorization,
                                        "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                return None
            account = re.search(rb"<Account>(\d{12})</Account>", body)
            return account.group(1).decode() if account else None
        except OSError as error:
            log.warning("cannot ask moto for the account of an access key: %s", error)
            return None
        finally:
            connection.close()

    def forget(self) -> None:
        """moto was reset: the keys it issued are gone."""
        with self.lock:
            self.by_key.clear()


def describe_call(method: str, path: str, headers, body: bytes) -> Call:
    query = urllib.parse.urlsplit(path).query
    scope = SCOPE.search(headers.get("Authorization", "")) or \
        SCOPE.search("Credential=" + urllib.parse.parse_qs(query).get("X-Amz-Credential", [""])[0])
    region, service = (scope.group(1), scope.group(2)) if scope else (DEFAULT_REGION, "unsigned")
    target = headers.get("X-Amz-Target")
    content_type = headers.get("Content-Type", "")
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return Call(service, region, target.rsplit(".", 1)[-1], "json", params,
                    content_type.split(";")[0] or "application/x-amz-json-1.1")
    params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
    if "x-www-form-urlencoded" in content_type:
        params.update({k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()})
    return Call(service, region, params.get("Action", f"{method} {urllib.parse.urlsplit(path).path}"),
                "query", params)


class Context:
    """What a request handler needs: the shared state, moto, the scheduler and the faults."""

    def __init__(self, state, moto, scheduler, faults, moto_url, accounts=None):
        self.state, self.moto, self.scheduler, self.faults = state, moto, scheduler, faults
        self.moto_url = moto_url
        self.accounts = accounts
        self.stack_step_ms = 0  # --stack-step-ms
        parsed = urllib.parse.urlsplit(moto_url)
        self.moto_host, self.moto_port = parsed.hostname, parsed.port or 80


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the AWS SDKs expect
    ctx: Context = None  # set by serve()

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.client_address[0], *args)

    def handle_any(self) -> None:
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_localaws/"):
                self.control(path, body)
            elif path.startswith("/moto-api"):
                self.moto_api(body)
            else:
                self.aws(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, headers: list, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, value) -> None:
        self.reply(status, [("Content-Type", "application/json")], json.dumps(value).encode())

    def forward(self, body: bytes) -> tuple:
        connection = http.client.HTTPConnection(self.ctx.moto_host, self.ctx.moto_port, timeout=300)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def moto_api(self, body: bytes) -> None:
        """moto's own API passes through; a reset also resets localaws's view of moto."""
        if self.path.startswith("/moto-api/reset") and self.command == "POST":
            with self.ctx.state.lock:
                answer = self.forward(body)
                self.ctx.state.reset()
                self.ctx.accounts.forget()
                freeze_task_states(self.ctx.moto_url)
        else:
            answer = self.forward(body)
        self.reply(*answer)

    def aws(self, body: bytes) -> None:
        call = describe_call(self.command, self.path, self.headers, body)
        ctx = self.ctx
        call.account = ctx.accounts.of(self.headers, self.path)
        with ctx.state.lock:
            ctx.state.scopes.add(call.scope)
        ctx.faults.count_call(call.service, call.action)
        fault, delay = ctx.faults.draw(call.service)
        if delay:
            time.sleep(delay)
        if fault == "throttle":
            return self.reply(*error_answer("throttle", call))
        if fault == "server_error":
            return self.reply(*error_answer(ctx.faults.server_status(), call))
        if (call.service, call.action) in ANSWERED_HERE:
            return self.reply(*ANSWERED_HERE[(call.service, call.action)](ctx, call))
        status, headers, answer = self.forward(body)
        if fault == "lost_response":  # moto did the work; the client never hears about it
            return self.reply(*error_answer(503, call))
        if status == 200 and (call.service, call.action) in OVERLAYS:
            answer = self.overlay(call, answer)
        self.reply(status, headers, answer)

    def overlay(self, call: Call, answer: bytes) -> bytes:
        function, protocol = OVERLAYS[(call.service, call.action)]
        try:
            if protocol == "json":
                return json.dumps(function(self.ctx, call, json.loads(answer))).encode()
            return function(self.ctx, call, answer)
        except Exception:  # never break a call because an overlay failed: give moto's answer
            log.exception("overlay of %s:%s failed", call.service, call.action)
            return answer

    # -- control API

    def control(self, path: str, body: bytes) -> None:
        route = CONTROL_ROUTES.get((self.command, path))
        if route is None:
            return self.reply_json(404, {"error": f"no control endpoint {self.command} {path}"})
        try:
            request = json.loads(body) if body.strip() else {}
            if not isinstance(request, dict):
                raise ValueError("the body must be a JSON object")
            status, answer = route(self.ctx, request)
        except (ValueError, KeyError, TypeError) as error:
            status, answer = 400, {"error": f"{type(error).__name__}: {error}"}
        except Exception as error:
            log.exception("control %s failed", path)
            status, answer = 500, {"error": str(error)}
        self.reply_json(status, answer)


def control_health(ctx, request):
    up = moto_is_up(ctx.moto_url)
    return (200 if up else 503), {"moto": ctx.moto_url, "up": up, "paused": ctx.state.paused}


def control_stop_task(ctx, request):
    """Stops a task as if its essential container exited; the scheduler replaces it."""
    scope = request_scope(ctx, request)
    cluster, task, reason = request["cluster"], request["task"], request["reason"]
    exit_code = request.get("exit_code")
    stop_code = request.get("stop_code") or ("EssentialContainerExited" if exit_code is not None else "UserInitiated")
    with ctx.state.lock:
        record = find_or_sync_task(ctx, scope, cluster, task)
        if record is None:
            return 404, {"error": f"no task {task} in cluster {cluster}"}
        ctx.moto("ecs", scope).stop_task(cluster=record.cluster_arn, task=record.arn, reason=reason)
        mark_stopped(record, reason, stop_code, exit_code)
        return 200, {"taskArn": record.arn, "stopCode": stop_code, "stoppedReason": reason, "exitCode": exit_code}


def control_task_health(ctx, request):
    scope = request_scope(ctx, request)
    health = request["health"]
    if health not in ("HEALTHY", "UNHEALTHY", "UNKNOWN"):
        raise ValueError("health must be HEALTHY, UNHEALTHY or UNKNOWN")
    with ctx.state.lock:
        record = find_or_sync_task(ctx, scope, request["cluster"], request["task"])
        if record is None:
            return 404, {"error": f"no task {request['task']} in cluster {request['cluster']}"}
        record.health = health
        return 200, {"taskArn": record.arn, "healthStatus": health}


def request_scope(ctx, request) -> Scope:
    """A control request's account and region: as given, else those of its task's or
    cluster's ARN, else moto's default account and us-east-1."""
    named = next((scope_of_arn(request[k]) for k in ("task", "cluster")
                  if isinstance(request.get(k), str) and request[k].startswith("arn:")), None)
    account = request.get("account", named.account if named else ctx.state.default_account)
    region = request.get("region", named.region if named else DEFAULT_REGION)
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        raise ValueError("account must be a 12-digit AWS account id")
    if not isinstance(region, str) or not region:
        raise ValueError("region must be a region name")
    return Scope(account, region)


def find_or_sync_task(ctx, scope, cluster, task) -> Optional[TaskRecord]:
    record = ctx.state.find_task(cluster, task, scope)
    if record is None:  # started since the last tick
        cluster_arn = ctx.moto("ecs", scope).describe_clusters(clusters=[cluster])["clusters"]
        if cluster_arn:
            ctx.scheduler.sync_tasks(scope, cluster_arn[0]["clusterArn"])
            record = ctx.state.find_task(cluster, task, scope)
    return record


def control_target_health(ctx, request):
    group = request["target_group_arn"]
    state = request["state"]
    if state not in ("healthy",) + tuple(TARGET_HEALTH_DEFAULTS):
        raise ValueError(f"state must be healthy or one of {sorted(TARGET_HEALTH_DEFAULTS)}")
    key = (request.get("target_id"), request.get("port"))
    with ctx.state.lock:
        overrides = ctx.state.target_health.setdefault(group, {})
        if state == "healthy":
            if key == (None, None):
                overrides.clear()
            else:
                overrides.pop(key, None)
                if (None, None) in overrides:  # this one is healthy although the group is not
                    overrides[key] = ("healthy", None, None)
        else:
            reason, description = TARGET_HEALTH_DEFAULTS[state]
            overrides[key] = (state, request.get("reason") or reason, request.get("description") or description)
    return 200, {"target_group_arn": group, "target_id": key[0], "state": state}


def control_scheduler(ctx, request):
    paused = request["paused"]
    if not isinstance(paused, bool):
        raise ValueError("paused must be true or false")
    with ctx.state.lock:
        ctx.state.paused = paused
    return 200, {"paused": paused}


def control_task_failures(ctx, request):
    """Replaces the task failure rules ({"rules": []} removes them all, the default one too)."""
    if "rules" not in request or set(request) - {"rules"}:
        raise ValueError('the body must be {"rules": [...]}')
    if not isinstance(request["rules"], list):
        raise ValueError("rules must be a list")
    rules = [TaskRule(r) for r in request["rules"]]
    with ctx.state.lock:
        ctx.state.task_rules = rules
    return control_get_task_failures(ctx, {})


def control_get_task_failures(ctx, request):
    with ctx.state.lock:
        return 200, {"rules": [r.describe() for r in ctx.state.task_rules]}


def control_stacks(ctx, request):
    """Stack timing and failures live in moto (stack_lifecycle.py): passed on to it. Without
    step_ms, the step is --stack-step-ms's."""
    if "step_ms" not in request:
        request = dict(request, step_ms=ctx.stack_step_ms)
    return moto_stacks(ctx.moto_url, request)


def control_get_stacks(ctx, request):
    return moto_stacks(ctx.moto_url, None)


def moto_stacks(moto_url: str, settings: Optional[dict]) -> tuple:
    data = None if settings is None else json.dumps(settings).encode()
    request = urllib.request.Request(f"{moto_url}/moto-api/localaws/stacks", data=data,
                                     method="GET" if data is None else "POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return 501, {"error": "this moto has no stack lifecycle (it was not started through patched_moto.py)"}
        return error.code, json.load(error)


def control_faults(ctx, request):
    ctx.faults.configure(request)
    return 200, {"faults": request}


def control_stats(ctx, request):
    return 200, ctx.faults.stats()


def control_reset_stats(ctx, request):
    ctx.faults.reset_stats()
    return 200, ctx.faults.stats()


CONTROL_ROUTES = {
    ("GET", "/_localaws/health"): control_health,
    ("POST", "/_localaws/tasks/stop"): control_stop_task,
    ("POST", "/_localaws/tasks/health"): control_task_health,
    ("POST", "/_localaws/targets/health"): control_target_health,
    ("POST", "/_localaws/scheduler"): control_scheduler,
    ("POST", "/_localaws/faults"): control_faults,
    ("GET", "/_localaws/tasks/failures"): control_get_task_failures,
    ("POST", "/_localaws/tasks/failures"): control_task_failures,
    ("GET", "/_localaws/stacks"): control_get_stacks,
    ("POST", "/_localaws/stacks"): control_stacks,
    ("GET", "/_localaws/stats"): control_stats,
    ("POST", "/_localaws/stats/reset"): control_reset_stats,
}


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description="A local AWS for Berth: moto plus an ECS scheduler.")
    parser.add_argument("--port", type=int, required=True, help="loopback port of the proxy")
    parser.add_argument("--moto-url", help="use this running moto server instead of starting one")
    parser.add_argument("--tick-ms", type=int, default=500, help="scheduler period (default 500)")
    parser.add_argument("--stack-step-ms", type=int, default=0,
                        help="time each stack resource takes to create, update or delete (default 0: "
                             "stack operations complete at once, as moto's do)")
    parser.add_argument("--log", help="append localaws's log to this file (default: standard error)")
    parser.add_argument("--moto-log", help="append the started moto_server's output to this file")
    parser.add_argument("--verbose", action="store_true", help="log every proxied request")
    return parser.parse_args(argv)


def setup_logging(args) -> None:
    handler = logging.FileHandler(args.log) if args.log else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    setup_logging(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    moto_process = None
    moto_url = args.moto_url
    if moto_url is None:
        moto_process, moto_url = start_moto(args.moto_log)
    try:
        wait_for_moto(moto_url, moto_process)
        freeze_task_states(moto_url)
        if args.stack_step_ms:
            status, answer = moto_stacks(moto_url, {"step_ms": args.stack_step_ms})
            if status != 200:
                raise SystemExit(f"--stack-step-ms: {answer.get('error')}")
        accounts = Accounts(moto_url)
        state, moto, faults = State(accounts.default), MotoClients(moto_url, accounts.default), Faults()
        scheduler = Scheduler(state, moto, args.tick_ms / 1000)
        Proxy.ctx = Context(state, moto, scheduler, faults, moto_url, accounts)
        Proxy.ctx.stack_step_ms = args.stack_step_ms
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="proxy", daemon=True).start()
        scheduler.start()
        log.info("localaws at http://127.0.0.1:%d, moto at %s", args.port, moto_url)
        print(f"localaws listening on http://127.0.0.1:{args.port}", flush=True)
        # Stop on a signal, or when whoever started localaws is gone (a killed test run).
        while not stop.wait(1.0):
            if os.getppid() != PARENT_PID:
                log.info("parent process exited; stopping")
                break
        scheduler.stopping.set()
        server.shutdown()
    finally:
        if moto_process is not None:
            moto_process.terminate()
            try:
                moto_process.wait(5)
            except subprocess.TimeoutExpired:
                moto_process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
