"""CloudFormation stack operations that take time and fail as on AWS, inside moto. Opt-in.

moto runs every stack operation synchronously: CreateStack answers with the stack already
CREATE_COMPLETE, DescribeStackEvents has only two stack-level events, and a resource never
fails with CREATE_FAILED and a rollback (see /work/shared/notes/moto.md). This module, loaded
by patched_moto.py, lets a test (through localaws's control API `/_localaws/stacks`, which
sets the configuration below through moto's own port at `/moto-api/localaws/stacks`) make

  * operations take time: each resource's `*_IN_PROGRESS` / `*_COMPLETE` events arrive one
    step after the other, and the stack stays CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS or
    DELETE_IN_PROGRESS (DescribeStacks, ListStacks, DescribeStackEvents,
    DescribeStackResources) until the last one;
  * a named resource fail, with the sequence CloudFormation writes: on create CREATE_FAILED,
    ROLLBACK_IN_PROGRESS, the created resources deleted, ROLLBACK_COMPLETE; on update
    UPDATE_FAILED, UPDATE_ROLLBACK_IN_PROGRESS, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS,
    UPDATE_ROLLBACK_COMPLETE; a failing rollback (UPDATE_ROLLBACK_FAILED, then
    ContinueUpdateRollback with ResourcesToSkip); a failing delete (DELETE_FAILED, then
    DeleteStack with RetainResources).

How: moto still does the work at once (it creates, updates and deletes the resources in
the call), and the stack gets a *timeline*: the events and statuses the operation goes
through, each due at a time. Every CloudFormation call first brings the timelines up to now
(`settle`), so what a client reads is what AWS would show at that moment. Where the
operation fails, moto's state is made what it is after the rollback: a failed create
deletes what it created (the stack is then *frozen*: moto would otherwise re-create
resources when it is described), a failed update is never applied, a failed delete deletes
the resources before the failed one.

With the default configuration (no step, no failures) nothing here changes moto.
"""

import datetime
import fnmatch
import json
import logging
import re
import threading
import time
import uuid
from typing import Optional

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.core.responses import ActionResult, EmptyResult
from moto.ecs import models as ecs_models
from moto.elbv2 import models as elbv2_models

log = logging.getLogger("localaws.stacks")

OPERATIONS = ("CREATE", "UPDATE", "UPDATE_ROLLBACK", "DELETE")
DEFAULT_OPERATIONS = ("CREATE", "UPDATE")
# A stack in one of these states (or any *_IN_PROGRESS) takes no update (AWS: "... is in X
# state and can not be updated.").
NOT_UPDATABLE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED",
                 "DELETE_COMPLETE", "CREATE_FAILED"}
# moto's methods as they were when install() ran (patched_moto.py's fixes included).
ORIGINAL = {}

# One lock for every stack operation and every settle: moto's server is threaded.
LOCK = threading.RLock()
_request = threading.local()  # the ClientRequestToken of the call being served


def now() -> float:
    return time.time()


def moto_time(at: float) -> datetime.datetime:
    """moto keeps naive UTC datetimes."""
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).replace(tzinfo=None)


def iso(at: float) -> str:
    return moto_time(at).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(at * 1000) % 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# Configuration (set through /moto-api/localaws/stacks)
# --------------------------------------------------------------------------------------------

class Rule:
    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("each failure must be an object")
        unknown = set(spec) - {"logical_id", "stack", "operation", "reason", "times"}
        if unknown:
            raise ValueError(f"unknown failure fields {sorted(unknown)}")
        self.logical_id = spec.get("logical_id")
        if not isinstance(self.logical_id, str) or not self.logical_id:
            raise ValueError("a failure needs logical_id (the resource's logical id in the template)")
        self.stack = spec.get("stack")
        if self.stack is not None and not isinstance(self.stack, str):
            raise ValueError("stack must be a stack name or a pattern with * and ?")
        operations = spec.get("operation", list(DEFAULT_OPERATIONS))
        operations = [operations] if isinstance(operations, str) else operations
        if not operations or not all(o in OPERATIONS for o in operations):
            raise ValueError(f"operation must be one of {list(OPERATIONS)} (or a list of them)")
        self.operations = list(operations)
        self.reason = spec.get("reason")
        if self.reason is not None and not isinstance(self.reason, str):
            raise ValueError("reason must be a string")
        self.times = spec.get("times")
        if self.times is not None and (not isinstance(self.times, int) or isinstance(self.times, bool)
                                       or self.times < 1):
            raise ValueError("times must be a positive integer")
        self.fired = 0

    def matches(self, stack_name: str, operation: str, logical_id: str) -> bool:
        return (logical_id == self.logical_id and operation in self.operations
                and (self.stack is None or fnmatch.fnmatchcase(stack_name, self.stack))
                and (self.times is None or self.fired < self.times))

    def fire(self, operation: str) -> str:
        self.fired += 1
        if self.reason:
            return self.reason
        verb = {"CREATE": "CreateResource", "UPDATE": "UpdateResource", "UPDATE_ROLLBACK": "UpdateResource",
                "DELETE": "DeleteResource"}[operation]
        return (f"Resource handler returned message: \"Error occurred during operation '{verb}'.\" "
                f"(RequestToken: {uuid.uuid4()}, HandlerErrorCode: GeneralServiceException)")

    def describe(self) -> dict:
        return {"logical_id": self.logical_id, "stack": self.stack, "operation": self.operations,
                "reason": self.reason, "times": self.times, "fired": self.fired}


class Config:
    def __init__(self):
        self.step_seconds = 0.0
        self.rules = []

    def configure(self, settings: dict) -> None:
        if not isinstance(settings, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(settings) - {"step_ms", "failures"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        step = settings.get("step_ms", 0)
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step < 0 or step > 600000:
            raise ValueError("step_ms must be a number of milliseconds from 0 to 600000")
        failures = settings.get("failures", [])
        if not isinstance(failures, list):
            raise ValueError("failures must be a list")
        rules = [Rule(f) for f in failures]
        with LOCK:
            self.step_seconds = step / 1000
            self.rules = rules

    def describe(self) -> dict:
        with LOCK:
            return {"step_ms": round(self.step_seconds * 1000, 3), "failures": [r.describe() for r in self.rules]}

    def rule(self, stack_name: str, operation: str, logical_id: str) -> Optional[Rule]:
        return next((r for r in self.rules if r.matches(stack_name, operation, logical_id)), None)

    def engaged(self, stack_name: str, operation: str) -> bool:
        """Whether an operation on this stack goes through a timeline at all."""
        return self.step_seconds > 0 or any(
            operation in r.operations and (r.stack is None or fnmatch.fnmatchcase(stack_name, r.stack))
            and (r.times is None or r.fired < r.times) for r in self.rules)


CONFIG = Config()


def control(request, full_url, headers):
    """moto-api route: GET the configuration, POST a new one (replaces the old one; {} is the
    default: no step, no failures)."""
    if request.method == "POST":
        try:
            size = int(headers.get("Content-Length") or 0)
            body = request.environ["wsgi.input"].read(size) if size else b""
            CONFIG.configure(json.loads(body) if body.strip() else {})
        except (ValueError, TypeError) as error:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(error)})
    return 200, {"Content-Type": "application/json"}, json.dumps(CONFIG.describe())


# --------------------------------------------------------------------------------------------
# A stack's timeline and resource states
# --------------------------------------------------------------------------------------------

class ResourceState:
    def __init__(self, logical_id: str, resource_type: str, physical_id: Optional[str], status: str,
                 reason: Optional[str], at: float):
        self.logical_id, self.type, self.physical_id = logical_id, resource_type, physical_id
        self.status, self.reason, self.at = status, reason, at


class Placeholder:
    """A resource CloudFormation still lists that moto no longer has (deleted, or never made)."""

    def __init__(self, state: ResourceState):
        self.logical_resource_id = state.logical_id
        self.physical_resource_id = state.physical_id
        self.cf_resource_type = state.type


class Lifecycle:
    """What localaws knows about a stack that went through a timeline."""

    def __init__(self, stack):
        self.resources = {}  # logical id -> ResourceState, in the order CloudFormation reached them
        self.steps = []  # (due, function(stack, at)) in order
        self.frozen = False  # moto's resource map must never be evaluated again (lazy creation)
        self.hide_outputs = False  # until the create completes
        self.continuation = None  # after UPDATE_ROLLBACK_FAILED: (rollback still to do, resources to clean up)
        self.event_ids = set()
        self.token = None
        for logical_id, resource in existing_resources(stack):
            self.resources[logical_id] = ResourceState(
                logical_id, resource_type(stack, logical_id, resource), physical(resource),
                "CREATE_COMPLETE", None, stack.creation_time.replace(tzinfo=datetime.timezone.utc).timestamp())

    @property
    def busy(self) -> bool:
        return bool(self.steps)

    def advance(self, stack, until: float) -> None:
        while self.steps and self.steps[0][0] <= until:
            at, step = self.steps.pop(0)
            step(stack, at)

    def event_id(self, logical_id: str, status: str, at: float, stack_event: bool) -> str:
        # AWS: a UUID for the stack's own events, LogicalId-STATUS-timestamp for a resource's.
        event_id = str(uuid.uuid4()) if stack_event else f"{logical_id}-{status}-{iso(at)}"
        if event_id in self.event_ids:
            event_id = str(uuid.uuid4())
        self.event_ids.add(event_id)
        return event_id


def lifecycle(stack) -> Optional[Lifecycle]:
    return getattr(stack, "_localaws", None)


def attach(stack) -> Lifecycle:
    lc = lifecycle(stack)
    if lc is None:
        lc = Lifecycle(stack)
        stack._localaws = lc
    return lc


def existing_resources(stack) -> list:
    """(logical id, moto resource) of the stack's resources that moto holds, in creation order,
    without creating any (moto's resource map creates a resource when it is looked up)."""
    template = stack.resource_map._resource_json_map
    return [(k, v) for k, v in stack.resource_map._parsed_resources.items()
            if k in template and v is not None]


def physical(resource) -> Optional[str]:
    """A resource's physical id (some moto resources, such as an ingress rule, have none)."""
    value = getattr(resource, "physical_resource_id", None)
    return value if isinstance(value, str) or value is None else str(value)


def resource_type(stack, logical_id: str, resource=None) -> str:
    found = getattr(resource, "cf_resource_type", None)
    if found:
        return found
    return (stack.resource_map._resource_json_map.get(logical_id) or {}).get("Type", "")


class Plan:
    """Builds a timeline: each call appends a step at the current time, `wait` moves it on."""

    def __init__(self, stack, lc: Lifecycle, start: float, step: float):
        self.stack, self.lc, self.t, self.step = stack, lc, start, step
        self.origin = start
        self.tick = 0.000001  # keeps events of an instant timeline in order

    def wait(self, fraction: float = 1.0) -> None:
        self.t += max(self.step * fraction, self.tick)

    def at(self, function) -> None:
        self.t += self.tick
        self.lc.steps.append((self.t, function))

    def stack_event(self, status: str, reason: Optional[str] = None) -> None:
        def run(stack, at):
            emit(stack, at, stack.name, "AWS::CloudFormation::Stack", stack.stack_id, status, reason, True)
            stack.status, stack.status_reason = status, reason
        self.at(run)

    def resource_event(self, logical_id: str, rtype: str, physical_id: Optional[str], status: str,
                       reason: Optional[str] = None) -> None:
        def run(stack, at):
            lc = lifecycle(stack)
            emit(stack, at, logical_id, rtype, physical_id or "", status, reason, False)
            state = lc.resources.get(logical_id)
            if state is None:
                lc.resources[logical_id] = ResourceState(logical_id, rtype, physical_id, status, reason, at)
            else:
                state.type, state.status, state.reason, state.at = rtype, status, reason, at
                if physical_id:
                    state.physical_id = physical_id
        self.at(run)

    def then(self, function) -> None:
        """A step that changes more than events (the end of an operation)."""
        self.at(lambda stack, at: function(stack, at))

    # -- the usual sequences

    def create(self, logical_id: str, rtype: str, physical_id: Optional[str]) -> None:
        self.resource_event(logical_id, rtype, None, "CREATE_IN_PROGRESS")
        self.wait(0.3)
        self.resource_event(logical_id, rtype, physical_id, "CREATE_IN_PROGRESS", "Resource creation Initiated")
        self.wait(0.7)
        self.resource_event(logical_id, rtype, physical_id, "CREATE_COMPLETE")

    def update(self, logical_id: str, rtype: str, physical_id: Optional[str]) -> None:
        self.resource_event(logical_id, rtype, physical_id, "UPDATE_IN_PROGRESS")
        self.wait()
        self.resource_event(logical_id, rtype, physical_id, "UPDATE_COMPLETE")

    def replace(self, logical_id: str, rtype: str, old_id: Optional[str], new_id: Optional[str]) -> None:
        self.resource_event(logical_id, rtype, old_id, "UPDATE_IN_PROGRESS")
        self.wait(0.2)
        self.resource_event(logical_id, rtype, old_id, "UPDATE_IN_PROGRESS",
                            "Requested update requires the creation of a new physical resource; hence creating one.")
        self.wait(0.2)
        self.resource_event(logical_id, rtype, new_id, "UPDATE_IN_PROGRESS", "Resource creation Initiated")
        self.wait(0.6)
        self.resource_event(logical_id, rtype, new_id, "UPDATE_COMPLETE")

    def delete(self, logical_id: str, rtype: str, physical_id: Optional[str]) -> None:
        self.resource_event(logical_id, rtype, physical_id, "DELETE_IN_PROGRESS")
        self.wait()
        self.resource_event(logical_id, rtype, physical_id, "DELETE_COMPLETE")


def emit(stack, at: float, logical_id: str, rtype: str, physical_id: str, status: str, reason: Optional[str],
         stack_event: bool) -> None:
    lc = lifecycle(stack)
    event = cfn_models.Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                             physical_resource_id=physical_id, resource_type=rtype, resource_status=status,
                             resource_status_reason=reason, resource_properties=None)
    event.timestamp = moto_time(at)
    event.event_id = lc.event_id(logical_id, status, at, stack_event)
    event.client_request_token = lc.token
    stack.events.append(event)


def begin(stack, start: float) -> Lifecycle:
    lc = attach(stack)
    lc.steps = []
    lc.token = getattr(_request, "token", None)
    return lc


def finish(plan: Plan, instant: bool) -> None:
    """Starts the timeline now, when moto's work is done and the call answers, and runs the
    steps due (all of them for an instant timeline)."""
    offset = now() - plan.origin
    plan.lc.steps = [(due + offset, step) for due, step in plan.lc.steps]
    plan.lc.advance(plan.stack, float("inf") if instant else now())


def settle(backend) -> None:
    """Brings every stack's timeline up to now."""
    with LOCK:
        at = now()
        for stack in list(backend.stacks.values()):
            lc = lifecycle(stack)
            if lc is not None and lc.steps:
                lc.advance(stack, at)


# --------------------------------------------------------------------------------------------
# Watching moto create resources (to fail one, and to know the order)
# --------------------------------------------------------------------------------------------

class PlannedFailure(Exception):
    def __init__(self, logical_id: str, rtype: str):
        super().__init__(f"{logical_id} fails")
        self.logical_id, self.type = logical_id, rtype


class Recording:
    def __init__(self, stack_name: str, fail: Optional[Rule]):
        self.stack_name, self.fail = stack_name, fail
        self.created = []  # (logical id, resource)


_recording = threading.local()


def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
    recording = getattr(_recording, "current", None)
    if recording is not None and resources_map["AWS::StackName"] == recording.stack_name:
        condition = resource_json.get("Condition")
        skipped = condition and not resources_map.lazy_condition_map[condition]
        if not skipped and recording.fail is not None and recording.fail.logical_id == logical_id:
            raise PlannedFailure(logical_id, resource_json.get("Type", ""))
    resource = ORIGINAL["parse_and_create_resource"](logical_id, resource_json, resources_map, account_id, region_name)
    if recording is not None and resource is not None and resources_map["AWS::StackName"] == recording.stack_name:
        recording.created.append((logical_id, resource))
    return resource


def _delete_service(service, account_id, region_name):
    ecs_models.ecs_backends[account_id][region_name].delete_service(service.cluster_name, service.name, force=True)


def _deregister_task_definition(definition, account_id, region_name):
    ecs_models.ecs_backends[account_id][region_name].deregister_task_definition(definition.arn)


def _delete_listener_rule(rule, account_id, region_name):
    elbv2_models.elbv2_backends[account_id][region_name].delete_rule(rule.arn)


def _delete_target_group(group, account_id, region_name):
    elbv2_models.elbv2_backends[account_id][region_name].delete_target_group(group.arn)


# Types moto's CloudFormation never deletes (it leaves them behind after DeleteStack). A
# rollback or a delete through a timeline deletes them, as CloudFormation does: otherwise the
# retry of a rolled-back create would find the old target group's name taken.
DELETERS = {
    "AWS::ECS::Service": _delete_service,
    "AWS::ECS::TaskDefinition": _deregister_task_definition,
    "AWS::ElasticLoadBalancingV2::ListenerRule": _delete_listener_rule,
    "AWS::ElasticLoadBalancingV2::TargetGroup": _delete_target_group,
}


def delete_resource(stack, logical_id: str) -> Optional[str]:
    """Deletes one of the stack's resources in moto; the error message if moto cannot."""
    resource_map = stack.resource_map
    resource = resource_map._parsed_resources.get(logical_id)
    if resource is None:
        return None
    deleter = DELETERS.get(resource_type(stack, logical_id, resource))
    try:
        if deleter is not None:
            deleter(resource, stack.account_id, stack.region_name)
        else:
            resource_map._delete_resource(resource, resource_map._resource_json_map.get(logical_id) or {})
    except Exception as error:  # noqa: BLE001 (moto's own errors, whatever their class)
        log.warning("deleting %s of %s: %s", logical_id, stack.name, error)
        return str(error) or type(error).__name__
    resource_map._parsed_resources.pop(logical_id, None)
    return None


def drop_exports(backend, stack) -> None:
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]


# --------------------------------------------------------------------------------------------
# The operations
# --------------------------------------------------------------------------------------------



def create_stack(self, name, template, parameters, *args, **kwargs):
    with LOCK:
        settle(self)
        if not CONFIG.engaged(name, "CREATE"):
            return ORIGINAL["create_stack"](self, name, template, parameters, *args, **kwargs)
        start = now()
        try:
            template_dict = cfn_models.Stack.parse_template(template) or {}
        except Exception:  # noqa: BLE001 (moto answers a template it cannot read its own way)
            return ORIGINAL["create_stack"](self, name, template, parameters, *args, **kwargs)
        logical_ids = list((template_dict.get("Resources") or {}).keys())
        rule = next((r for r in (CONFIG.rule(name, "CREATE", lid) for lid in logical_ids) if r), None)
        recording = Recording(name, rule)
        _recording.current = recording
        failed = None
        try:
            stack = ORIGINAL["create_stack"](self, name, template, parameters, *args, **kwargs)
        except PlannedFailure as failure:
            failed = failure
            stack = next(s for s in self.stacks.values() if s.name == name)
        finally:
            _recording.current = None
        stack.events.clear()  # moto's two events; the timeline writes CloudFormation's
        lc = begin(stack, start)
        lc.resources = {}
        lc.hide_outputs = True
        step = CONFIG.step_seconds
        plan = Plan(stack, lc, start, step)
        plan.stack_event("CREATE_IN_PROGRESS", "User Initiated")
        for logical_id, resource in recording.created:
            plan.wait(0.2)
            plan.create(logical_id, resource_type(stack, logical_id, resource), physical(resource))
        if failed is None:
            plan.wait(0.2)
            plan.stack_event("CREATE_COMPLETE")
            plan.then(lambda s, at: setattr(lifecycle(s), "hide_outputs", False))
        else:
            reason = failed_reason = rule.fire("CREATE")
            plan.wait(0.2)
            plan.resource_event(failed.logical_id, failed.type, None, "CREATE_IN_PROGRESS")
            plan.wait()
            plan.resource_event(failed.logical_id, failed.type, None, "CREATE_FAILED", failed_reason)
            plan.wait(0.2)
            plan.stack_event("ROLLBACK_IN_PROGRESS", f"The following resource(s) failed to create: "
                                                     f"[{failed.logical_id}]. Rollback requested by user.")
            plan.wait(0.2)
            plan.resource_event(failed.logical_id, failed.type, None, "DELETE_COMPLETE")
            # What the rollback deletes is deleted now; the timeline shows it going.
            lc.frozen = True
            for logical_id, resource in reversed(recording.created):
                rtype = resource_type(stack, logical_id, resource)
                physical_id = physical(resource)
                delete_resource(stack, logical_id)
                plan.wait(0.2)
                plan.delete(logical_id, rtype, physical_id)
            drop_exports(self, stack)
            plan.wait(0.2)
            plan.stack_event("ROLLBACK_COMPLETE")
            log.info("create of %s fails at %s: %s", name, failed.logical_id, reason)
        finish(plan, step == 0)
        return stack


def check_updatable(stack) -> None:
    """AWS refuses to update a stack that is busy or failed; moto only knows ROLLBACK_COMPLETE."""
    lc = lifecycle(stack)
    if lc is not None and (lc.busy or stack.status.endswith("_IN_PROGRESS") or stack.status in NOT_UPDATABLE):
        raise ValidationError(stack.stack_id,
                              message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def references(value) -> set:
    """The logical ids (and parameters) a piece of template refers to: Ref, Fn::GetAtt, Fn::Sub."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) and item else str(item).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) and item else item
                if isinstance(text, str):
                    found.update(SUB_NAME.findall(text))
                found |= references(item[1] if isinstance(item, list) and len(item) > 1 else None)
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def touched_in_order(template_dict: dict, changed: list) -> list:
    """The resources an update goes through: the changed ones and (transitively) those that
    refer to them (a new physical id or attribute updates them on AWS; moto only changes what
    differs in the template), each after what it refers to."""
    resources = template_dict.get("Resources") or {}
    refs = {lid: references(body) & set(resources) - {lid} for lid, body in resources.items()}
    for lid, body in resources.items():
        depends = (body or {}).get("DependsOn") or []
        refs[lid] |= set([depends] if isinstance(depends, str) else depends) & set(resources)
    touched = set(changed)
    grew = True
    while grew:
        extra = {lid for lid in resources if lid not in touched and refs[lid] & touched
                 and references(resources[lid]) & touched}
        touched |= extra
        grew = bool(extra)
    order, seen = [], set()

    def visit(lid):
        if lid in seen:
            return
        seen.add(lid)
        for dependency in sorted(refs[lid], key=list(resources).index):
            visit(dependency)
        if lid in touched:
            order.append(lid)
    for lid in resources:
        visit(lid)
    return order


def run_update(backend, stack, template_dict: dict, parameters: dict, apply, change_set=None):
    """An update through a timeline. `apply` makes the update in moto (not called when a
    resource is to fail: the update then rolls back to what moto already has)."""
    start = now()
    step = CONFIG.step_seconds
    diff = stack.resource_map.build_resource_diff(template_dict, parameters)
    also = [lid for lid in getattr(change_set, "also_update", ()) or () if lid not in diff["Add"] + diff["Modify"]]
    order = touched_in_order(template_dict, diff["Add"] + diff["Modify"] + also)
    rule, failing = None, None
    for lid in order:
        rule = CONFIG.rule(stack.name, "UPDATE", lid)
        if rule:
            failing = lid
            break
    new_types = {lid: (template_dict["Resources"][lid] or {}).get("Type", "") for lid in order}
    lc = attach(stack)
    if failing is None:
        before = {lid: physical(r) for lid, r in existing_resources(stack)}
        removed = {lid: (resource_type(stack, lid), before.get(lid)) for lid in diff["Remove"]}
        events = len(stack.events)
        result = apply()
        del stack.events[events:]  # moto's own events of the update
        lc = begin(stack, start)
        after = {lid: physical(r) for lid, r in existing_resources(stack)}
        stack.last_updated_time = moto_time(start)
        plan = Plan(stack, lc, start, step)
        plan.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
        replaced = []
        for lid in order:
            plan.wait(0.2)
            if lid in diff["Add"]:
                plan.create(lid, new_types[lid], after.get(lid))
            elif before.get(lid) != after.get(lid) and after.get(lid):
                plan.replace(lid, new_types[lid], before.get(lid), after.get(lid))
                replaced.append((lid, new_types[lid], before.get(lid)))
            else:
                plan.update(lid, new_types[lid], after.get(lid))
        plan.wait(0.2)
        plan.stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        for lid, rtype, old_id in replaced:
            plan.wait(0.2)
            # The old physical resource goes; the resource itself stays UPDATE_COMPLETE.
            plan.at(lambda s, at, lid=lid, rtype=rtype, old_id=old_id:
                    emit(s, at, lid, rtype, old_id or "", "DELETE_IN_PROGRESS", None, False))
            plan.wait()
            plan.at(lambda s, at, lid=lid, rtype=rtype, old_id=old_id:
                    emit(s, at, lid, rtype, old_id or "", "DELETE_COMPLETE", None, False))
        for lid, (rtype, old_id) in removed.items():
            plan.wait(0.2)
            plan.delete(lid, rtype, old_id)
        plan.wait(0.2)
        plan.stack_event("UPDATE_COMPLETE")

        def done(s, at, removed=tuple(removed)):
            for lid in removed:
                lifecycle(s).resources.pop(lid, None)
            if change_set is not None:
                change_set.execution_status = "EXECUTE_COMPLETE"
        plan.then(done)
        if change_set is not None:
            change_set.execution_status = "EXECUTE_IN_PROGRESS"
        finish(plan, step == 0)
        return result

    # A resource fails: nothing is applied; the events show the update going and coming back.
    lc = begin(stack, start)
    stack.last_updated_time = moto_time(start)
    existing = {lid: physical(r) for lid, r in existing_resources(stack)}
    plan = Plan(stack, lc, start, step)
    plan.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
    rollback, cleanup = [], []
    for lid in order[:order.index(failing)]:
        plan.wait(0.2)
        if lid in diff["Add"]:
            physical_id = parsing.generate_resource_name(new_types[lid], stack.name, lid)
            plan.create(lid, new_types[lid], physical_id)
            cleanup.append((lid, new_types[lid], physical_id))
        else:
            plan.update(lid, new_types[lid], existing.get(lid))
            rollback.append(lid)
    reason = rule.fire("UPDATE")
    plan.wait(0.2)
    rtype = new_types[failing]
    if failing in diff["Add"]:
        plan.resource_event(failing, rtype, None, "CREATE_IN_PROGRESS")
        plan.wait()
        plan.resource_event(failing, rtype, None, "CREATE_FAILED", reason)
        cleanup.append((failing, rtype, None))
        verb = "create"
    else:
        plan.resource_event(failing, rtype, existing.get(failing), "UPDATE_IN_PROGRESS")
        plan.wait()
        plan.resource_event(failing, rtype, existing.get(failing), "UPDATE_FAILED", reason)
        rollback.append(failing)
        verb = "update"
    plan.wait(0.2)
    plan.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", f"The following resource(s) failed to {verb}: [{failing}].")
    log.info("update of %s fails at %s: %s", stack.name, failing, reason)
    roll_back(plan, list(reversed(rollback)), cleanup, set(), change_set)
    if change_set is not None:
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
    finish(plan, step == 0)
    return stack


def roll_back(plan: Plan, rollback: list, cleanup: list, skip: set, change_set=None) -> None:
    """The rollback of an update: resources back to their old state (in reverse order), then the
    resources the update created are deleted. A rollback rule stops it at UPDATE_ROLLBACK_FAILED."""
    stack, lc = plan.stack, plan.lc
    existing = {lid: physical(r) for lid, r in existing_resources(stack)}
    lc.continuation = None
    for index, lid in enumerate(rollback):
        rtype = resource_type(stack, lid, stack.resource_map._parsed_resources.get(lid))
        plan.wait(0.2)
        if lid in skip:
            plan.resource_event(lid, rtype, existing.get(lid), "UPDATE_COMPLETE", "Resource skipped during UpdateRollback")
            continue
        rule = CONFIG.rule(stack.name, "UPDATE_ROLLBACK", lid)
        plan.resource_event(lid, rtype, existing.get(lid), "UPDATE_IN_PROGRESS")
        plan.wait()
        if rule is not None:
            plan.resource_event(lid, rtype, existing.get(lid), "UPDATE_FAILED", rule.fire("UPDATE_ROLLBACK"))
            plan.wait(0.2)
            plan.stack_event("UPDATE_ROLLBACK_FAILED", f"The following resource(s) failed to update: [{lid}].")
            lc.continuation = (rollback[index:], cleanup)
            if change_set is not None:
                plan.then(lambda s, at: setattr(change_set, "execution_status", "EXECUTE_FAILED"))
            return
        plan.resource_event(lid, rtype, existing.get(lid), "UPDATE_COMPLETE")
    plan.wait(0.2)
    plan.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    for lid, rtype, physical_id in reversed(cleanup):
        plan.wait(0.2)
        if physical_id:
            plan.delete(lid, rtype, physical_id)
        else:
            plan.resource_event(lid, rtype, None, "DELETE_COMPLETE")
    plan.wait(0.2)
    plan.stack_event("UPDATE_ROLLBACK_COMPLETE")

    def done(s, at, gone=tuple(lid for lid, _, _ in cleanup)):
        for lid in gone:
            lifecycle(s).resources.pop(lid, None)
        if change_set is not None:
            change_set.execution_status = "EXECUTE_FAILED"
    plan.then(done)


def continue_update_rollback(backend, stack_name: str, skip: list) -> None:
    with LOCK:
        settle(backend)
        stack = backend.get_stack(stack_name)
        lc = lifecycle(stack)
        if lc is None or lc.busy or stack.status != "UPDATE_ROLLBACK_FAILED" or lc.continuation is None:
            raise ValidationError(stack.stack_id, message=f"Stack:{stack.stack_id} is in {stack.status} state and "
                                                          "can not continue to update rollback.")
        rollback, cleanup = lc.continuation
        wrong = [lid for lid in skip if (lc.resources.get(lid) is None or lc.resources[lid].status != "UPDATE_FAILED")]
        if wrong:
            raise ValidationError(stack.stack_id, message=(
                f"Invalid ResourcesToSkip [{', '.join(wrong)}]: only resources in UPDATE_FAILED state can be skipped."))
        start = now()
        lc = begin(stack, start)
        plan = Plan(stack, lc, start, CONFIG.step_seconds)
        plan.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated")
        roll_back(plan, rollback, cleanup, set(skip))
        finish(plan, CONFIG.step_seconds == 0)




def update_stack(self, name, template, role_arn, parameters, tags, *args, **kwargs):
    with LOCK:
        settle(self)
        stack = self.get_stack(name)
        check_updatable(stack)
        if not CONFIG.engaged(stack.name, "UPDATE"):
            detach_if_settled(stack)
            return ORIGINAL["update_stack"](self, name, template, role_arn, parameters, tags, *args, **kwargs)
        try:
            template_dict = cfn_models.Stack.parse_template(template) or {}
        except Exception:  # noqa: BLE001 (moto answers a template it cannot read its own way)
            return ORIGINAL["update_stack"](self, name, template, role_arn, parameters, tags, *args, **kwargs)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        return run_update(self, stack, template_dict, resolved,
                          lambda: ORIGINAL["update_stack"](self, name, template, role_arn, parameters, tags, *args, **kwargs))




def execute_change_set(self, change_set_name, stack_name=None):
    with LOCK:
        settle(self)
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name
             and stack_name in (None, c.stack_name, c.stack_id)), None)
        if change_set is None or change_set.change_set_type != "UPDATE":
            return ORIGINAL["execute_change_set"](self, change_set_name, stack_name)
        stack = change_set.stack
        check_updatable(stack)
        # A drift-aware change set (drift_revert.py) also sets resources back that its
        # template does not change.
        also = change_set.update_also

        def apply():
            result = ORIGINAL["execute_change_set"](self, change_set_name, stack_name)
            if also is not None:
                also()
            return result
        if not CONFIG.engaged(stack.name, "UPDATE"):
            detach_if_settled(stack)
            return apply()
        run_update(self, stack, change_set.template_dict, change_set.parameters, apply, change_set)


def detach_if_settled(stack) -> None:
    """An operation that does not go through a timeline leaves the stack to moto, as before
    (a frozen stack keeps its lifecycle: moto must not evaluate its resource map)."""
    lc = lifecycle(stack)
    if lc is not None and not lc.frozen and not lc.busy:
        del stack._localaws




def create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type,
                      *args, **kwargs):
    with LOCK:
        settle(self)
        if change_set_type == "UPDATE":
            stack = next((s for s in self.stacks.values() if s.name == stack_name or s.stack_id == stack_name), None)
            if stack is not None:
                check_updatable(stack)
        return ORIGINAL["create_change_set"](self, stack_name, change_set_name, template, parameters, description,
                                  change_set_type, *args, **kwargs)




def delete_stack(self, name_or_stack_id, retain_resources=None):
    with LOCK:
        settle(self)
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        retain = list(retain_resources or [])
        if stack is None:
            return ORIGINAL["delete_stack"](self, name_or_stack_id)
        lc = lifecycle(stack)
        if retain and stack.status != "DELETE_FAILED":
            raise ValidationError(stack.stack_id, message=(
                f"Invalid operation on stack [{stack.stack_id}]. You can specify RetainResources in a delete stack "
                "operation only when the stack is in the DELETE_FAILED state."))
        if lc is not None and lc.busy:
            if stack.status == "DELETE_IN_PROGRESS":
                return None  # already being deleted: AWS accepts the call and does nothing more
            raise ValidationError(stack.stack_id, message=(
                f"Stack [{stack.name}] cannot be deleted while in status {stack.status}"))
        if not CONFIG.engaged(stack.name, "DELETE") and not retain and stack.status != "DELETE_FAILED":
            return ORIGINAL["delete_stack"](self, name_or_stack_id)
        run_delete(self, stack, retain)
        return None


def run_delete(backend, stack, retain: list) -> None:
    lc = attach(stack)
    for lid in retain:
        state = lc.resources.get(lid)
        if state is None or state.status != "DELETE_FAILED":
            status = state.status if state else "NOT_FOUND"
            raise ValidationError(stack.stack_id, message=(
                f"The specified resources to retain must be in a valid state. Do not specify resources that are in "
                f"the {status} state."))
    start = now()
    step = CONFIG.step_seconds
    lc = begin(stack, start)
    lc.frozen = True  # from here on moto's resource map is only read for what it holds
    present = [lid for lid, state in lc.resources.items() if not state.status.startswith("DELETE_COMPLETE")
               and state.status != "DELETE_SKIPPED"]
    held = [lid for lid, _ in existing_resources(stack)]
    order = list(reversed([lid for lid in present if lid in held or lid in retain] +
                          [lid for lid in held if lid not in present]))
    plan = Plan(stack, lc, start, step)
    plan.stack_event("DELETE_IN_PROGRESS", "User Initiated")
    failures = []
    for lid in order:
        resource = stack.resource_map._parsed_resources.get(lid)
        rtype = resource_type(stack, lid, resource)
        physical_id = physical(resource) or (
            lc.resources[lid].physical_id if lid in lc.resources else None)
        plan.wait(0.2)
        if lid in retain:
            stack.resource_map._parsed_resources.pop(lid, None)  # kept in moto, no longer the stack's
            plan.resource_event(lid, rtype, physical_id, "DELETE_SKIPPED")
            continue
        rule = CONFIG.rule(stack.name, "DELETE", lid)
        plan.resource_event(lid, rtype, physical_id, "DELETE_IN_PROGRESS")
        plan.wait()
        if rule is not None:
            plan.resource_event(lid, rtype, physical_id, "DELETE_FAILED", rule.fire("DELETE"))
            failures.append(lid)
            log.info("delete of %s fails at %s", stack.name, lid)
            break  # what the failed resource depends on stays
        error = delete_resource(stack, lid)
        if error is not None:
            plan.resource_event(lid, rtype, physical_id, "DELETE_FAILED", f"Resource handler returned message: "
                                                                          f"\"{error}\"")
            failures.append(lid)
            continue
        plan.resource_event(lid, rtype, physical_id, "DELETE_COMPLETE")
    plan.wait(0.2)
    if failures:
        plan.stack_event("DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(failures)}]. ")
    else:
        plan.stack_event("DELETE_COMPLETE")

        def gone(s, at):
            backend.stacks.pop(s.stack_id, None)
            backend.deleted_stacks[s.stack_id] = s
            s.deletion_time = moto_time(at)
            drop_exports(backend, s)
        plan.then(gone)
    finish(plan, step == 0)


# --------------------------------------------------------------------------------------------
# Reads: what a stack with a lifecycle shows
# --------------------------------------------------------------------------------------------



@property
def stack_resources(self):
    lc = lifecycle(self)
    if lc is None:
        return ORIGINAL["stack_resources"].fget(self)
    # What CloudFormation has reached so far; moto's own object where moto still holds it.
    held = self.resource_map._parsed_resources
    return [held[lid] if held.get(lid) is not None else Placeholder(state)
            for lid, state in lc.resources.items()]




@property
def outputs(self):
    lc = lifecycle(self)
    if lc is not None and (lc.frozen or lc.hide_outputs):
        return None
    return ORIGINAL["outputs"].fget(self)




@property
def exports(self):
    lc = lifecycle(self)
    if lc is not None and lc.frozen:
        return []
    return ORIGINAL["exports"].fget(self)




def dto_init(self, stack, resource):
    ORIGINAL["dto_init"](self, stack, resource)
    lc = lifecycle(stack)
    state = lc.resources.get(self.logical_resource_id) if lc is not None else None
    if state is not None:
        self.resource_status = state.status
        self.resource_status_reason = state.reason
        self.timestamp = self.last_updated_timestamp = moto_time(state.at)
        self.resource_type = self.resource_type or state.type
        self.physical_resource_id = self.physical_resource_id or state.physical_id




def list_stack_resources_response(self):
    stack, resources = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
    lc = lifecycle(stack)
    if lc is None:
        return ORIGINAL["list_stack_resources_response"](self)
    summaries = []
    for resource in resources:
        lid = getattr(resource, "logical_resource_id", "")
        state = lc.resources.get(lid)
        summary = {"LogicalResourceId": lid, "PhysicalResourceId": getattr(resource, "physical_resource_id", ""),
                   "ResourceType": getattr(resource, "cf_resource_type", "") or (state.type if state else ""),
                   "ResourceStatus": state.status if state else "CREATE_COMPLETE",
                   "LastUpdatedTimestamp": moto_time(state.at) if state else stack.creation_time}
        if state is not None and state.reason:
            summary["ResourceStatusReason"] = state.reason
        summaries.append(summary)
    return ActionResult({"StackResourceSummaries": summaries})


def settling(method):
    def wrapper(self, *args, **kwargs):
        with LOCK:
            settle(self)
            return method(self, *args, **kwargs)
    wrapper.__name__ = method.__name__
    return wrapper




def list_exports(self, tokenstr):
    with LOCK:
        settle(self)
        exports, token = ORIGINAL["list_exports"](self, tokenstr)
        hidden = {s.stack_id for s in self.stacks.values() if lifecycle(s) is not None and lifecycle(s).hide_outputs}
        return [e for e in exports if e.exporting_stack_id not in hidden], token


# -- responses: the parameters moto's CloudFormation does not read

def remember_token(method):
    def wrapper(self, *args, **kwargs):
        _request.token = self._get_param("ClientRequestToken")
        try:
            return method(self, *args, **kwargs)
        finally:
            _request.token = None
    wrapper.__name__ = method.__name__
    return wrapper


def delete_stack_response(self):
    self.cloudformation_backend.delete_stack(self._get_param("StackName"),
                                             retain_resources=self._get_param("RetainResources", []))
    return EmptyResult()


def continue_update_rollback_response(self):
    continue_update_rollback(self.cloudformation_backend, self._get_param("StackName"),
                             self._get_param("ResourcesToSkip", []) or [])
    return EmptyResult()


def install() -> None:
    """Patches moto. Without a configuration (the default) every patched path is moto's own."""
    backend = cfn_models.CloudFormationBackend
    response = cfn_responses.CloudFormationResponse
    ORIGINAL.update({
        "parse_and_create_resource": parsing.parse_and_create_resource,
        "create_stack": backend.create_stack, "update_stack": backend.update_stack,
        "execute_change_set": backend.execute_change_set, "create_change_set": backend.create_change_set,
        "delete_stack": backend.delete_stack, "list_exports": backend.list_exports,
        "stack_resources": cfn_models.Stack.stack_resources, "outputs": cfn_models.Stack.outputs,
        "exports": cfn_models.Stack.exports, "dto_init": cfn_responses.StackResourceDTO.__init__,
        "list_stack_resources_response": response.list_stack_resources,
    })
    parsing.parse_and_create_resource = parse_and_create_resource
    backend.create_stack = create_stack
    backend.update_stack = update_stack
    backend.execute_change_set = execute_change_set
    backend.create_change_set = create_change_set
    backend.delete_stack = delete_stack
    backend.list_exports = list_exports
    for name in ("describe_stacks", "list_stacks", "get_stack", "describe_change_set", "list_change_sets"):
        setattr(backend, name, settling(getattr(backend, name)))
    cfn_models.Stack.stack_resources = stack_resources
    cfn_models.Stack.outputs = outputs
    cfn_models.Stack.exports = exports
    cfn_responses.StackResourceDTO.__init__ = dto_init
    response.list_stack_resources = list_stack_resources_response
    response.delete_stack = delete_stack_response
    response.continue_update_rollback = continue_update_rollback_response
    for name in ("create_stack", "update_stack", "execute_change_set", "delete_stack", "continue_update_rollback"):
        setattr(response, name, remember_token(getattr(response, name)))
    from moto.moto_api._internal import urls
    urls.url_paths["{0}/moto-api/localaws/stacks$"] = control
