"""CloudFormation drift detection inside moto, as AWS CloudFormation answers it.

moto 5.2.5 answers DetectStackDrift, DescribeStackDriftDetectionStatus,
DescribeStackResourceDrifts and DetectStackResourceDrift with HTTP 500 NotImplemented, and
its stacks and stack resources carry no DriftInformation. This module, loaded by
patched_moto.py after stack_lifecycle.py, adds them:

  * the expected properties of a resource are its properties in the stack's current
    template, resolved with moto's own template code (parsing.clean_json: parameters, Ref,
    Fn::GetAtt, Fn::Sub, Fn::ImportValue, Fn::If and conditions, AWS::NoValue);
  * the actual properties are read back from moto's backends for the resource's physical id,
    in CloudFormation's shape, by a reader per resource type (READERS). Only the properties
    set in the template are compared; a resource type without a reader is NOT_CHECKED;
  * a detection takes time (DETECTION_IN_PROGRESS, then DETECTION_COMPLETE), scaled with the
    stack step of stack_lifecycle.py, and its results become the stack's drift information
    when it completes.

Everything is kept on moto's own objects (the stack, the CloudFormation backend), so drift
state is per account and region like the stacks themselves, and goes with
`POST /moto-api/reset`.
"""

import base64
import copy
import json
import logging
import re
import uuid
from typing import Optional

from moto.applicationautoscaling import models as aas_models
from moto.autoscaling import models as autoscaling_models
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.core.responses import ActionResult
from moto.ecs import models as ecs_models
from moto.elbv2 import models as elbv2_models
from moto.logs import models as logs_models

import stack_lifecycle as lifecycle

log = logging.getLogger("localaws.drift")

# The user guide's "Considerations when detecting drift": the stack statuses drift detection runs in.
DETECTABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED")
RESOURCE_STATUSES = ("IN_SYNC", "MODIFIED", "DELETED", "NOT_CHECKED", "UNKNOWN", "UNSUPPORTED")
# A detection is DETECTION_IN_PROGRESS for half a stack step per resource it checks, and at
# least this long, so that a caller has to poll DescribeStackDriftDetectionStatus as on AWS.
MIN_SECONDS = 0.3


# --------------------------------------------------------------------------------------------
# Comparing expected and actual properties
# --------------------------------------------------------------------------------------------

def render(value) -> str:
    """A value as PropertyDifference shows it: scalars bare, objects and lists as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def typed_like(expected, actual):
    """The expected scalar in the type the actual one has (the resource schema's: readers
    answer in it). Template values that came from parameters are strings ("2" for a Number)."""
    if isinstance(expected, str):
        if isinstance(actual, bool):
            if expected.lower() in ("true", "false"):
                return expected.lower() == "true"
        elif isinstance(actual, (int, float)):
            number = _number(expected)
            if number is not None:
                return number
    elif isinstance(expected, bool):
        if isinstance(actual, str) and actual.lower() in ("true", "false"):
            return "true" if expected else "false"
    elif isinstance(expected, (int, float)) and isinstance(actual, str):
        return str(expected)
    return expected


def _pattern(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/*", path)


def _shape_of(items: list):
    """The keys the expected items of a list set (to project actual items onto)."""
    keys = {}
    for item in items:
        if isinstance(item, dict):
            keys.update(item)
    return keys or None


def project(actual, shape):
    """The part of an actual value that the expected one speaks of."""
    if isinstance(actual, dict) and isinstance(shape, dict):
        return {k: project(actual[k], shape[k]) for k in shape if k in actual and actual[k] is not None}
    if isinstance(actual, list) and isinstance(shape, list):
        item_shape = _shape_of(shape)
        return [project(a, item_shape) if item_shape else a for a in actual]
    return actual


class Comparison:
    """Expected against actual, as CloudFormation's drift detection compares them: only what
    the expected value sets; lists in order unless their path is one of `unordered`."""

    def __init__(self, unordered=()):
        self.unordered = set(unordered)
        self.differences = []

    def difference(self, path, expected, actual, kind):
        self.differences.append({"PropertyPath": path, "ExpectedValue": render(expected),
                                 "ActualValue": render(actual), "DifferenceType": kind})

    def compare(self, expected, actual, path=""):
        """(expected as typed for the answer, actual projected onto it); records differences."""
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                self.difference(path, expected, actual, "NOT_EQUAL")
                return expected, actual
            typed, seen = {}, {}
            for key, value in expected.items():
                sub = f"{path}/{key}"
                if actual.get(key) is None:
                    self.difference(sub, value, None, "REMOVE")
                    typed[key] = value
                    continue
                typed[key], seen[key] = self.compare(value, actual[key], sub)
            return typed, seen
        if isinstance(expected, list):
            if not isinstance(actual, list):
                self.difference(path, expected, actual, "NOT_EQUAL")
                return expected, actual
            if _pattern(path) in self.unordered:
                return self.compare_unordered(expected, actual, path)
            return self.compare_pairs(list(enumerate(expected)), list(enumerate(actual)), expected, actual, path)
        if isinstance(actual, (dict, list)):
            self.difference(path, expected, actual, "NOT_EQUAL")
            return expected, actual
        typed = typed_like(expected, actual)
        if typed != actual or isinstance(typed, bool) != isinstance(actual, bool):
            self.difference(path, typed, actual, "NOT_EQUAL")
        return typed, actual

    def compare_pairs(self, expected_items, actual_items, expected, actual, path):
        """Items paired in order; what is left over is REMOVE (expected) or ADD (actual)."""
        typed = list(expected)
        seen = [None] * len(actual)
        shape = _shape_of(expected)
        for (i, e), (j, a) in zip(expected_items, actual_items):
            typed[i], seen[j] = self.compare(e, a, f"{path}/{j}")
        for i, e in expected_items[len(actual_items):]:
            self.difference(f"{path}/{i}", e, None, "REMOVE")
        for j, a in actual_items[len(expected_items):]:
            seen[j] = project(a, shape) if shape else a
            self.difference(f"{path}/{j}", None, seen[j], "ADD")
        return typed, seen

    def compare_unordered(self, expected, actual, path):
        """Equal items match whatever their place; the others are paired in order."""
        typed, seen = list(expected), [None] * len(actual)
        used = set()
        left = []
        for i, e in enumerate(expected):
            for j, a in enumerate(actual):
                if j in used:
                    continue
                probe = Comparison(self.unordered)
                t, s = probe.compare(e, a, f"{path}/{j}")
                if not probe.differences:
                    typed[i], seen[j] = t, s
                    used.add(j)
                    break
            else:
                left.append((i, e))
        rest = [(j, a) for j, a in enumerate(actual) if j not in used]
        paired_typed, paired_seen = self.compare_pairs(left, rest, expected, actual, path)
        for i, _ in left:
            typed[i] = paired_typed[i]
        for j, _ in rest:
            seen[j] = paired_seen[j]
        return typed, seen


# --------------------------------------------------------------------------------------------
# Reading resources back from moto (the actual properties, in CloudFormation's shape)
# --------------------------------------------------------------------------------------------

class Gone(Exception):
    """The physical resource no longer exists: DELETED."""


def pascal(value):
    """ECS's camelCase keys as CloudFormation's PascalCase ones."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _same_id(expected, *names):
    """A reference the template may give by name or by ARN: the form the template used when it
    names the same thing."""
    return expected if expected in names else names[-1]


def read_service(stack, physical_id: str, expected: dict) -> dict:
    backend = ecs_models.ecs_backends[stack.account_id][stack.region_name]
    service = next((s for s in backend.services.values() if s.arn == physical_id), None)
    if service is None or service.status != "ACTIVE":
        raise Gone()
    definition = service.task_definition
    try:
        definition = backend.describe_task_definition(definition).arn  # family:revision as its ARN
    except Exception:  # noqa: BLE001 (deregistered and gone: what the service says)
        pass
    actual = {
        "ServiceName": service.name,
        "Cluster": _same_id(expected.get("Cluster"), service.cluster_name, service.cluster_arn),
        "DesiredCount": _int(service.desired_count),
        "TaskDefinition": _same_id(expected.get("TaskDefinition"), service.task_definition, definition),
        "LoadBalancers": pascal(service.load_balancers or []) or None,
        "DeploymentConfiguration": pascal(getattr(service, "deployment_configuration", None)),
        "CapacityProviderStrategy": pascal(getattr(service, "capacity_provider_strategy", None)),
        "PlacementStrategies": pascal(getattr(service, "placement_strategy", None)),
        "HealthCheckGracePeriodSeconds": _int(getattr(service, "health_check_grace_period_seconds", None)),
    }
    return {k: v for k, v in actual.items() if v is not None}


def read_target_group(stack, physical_id: str, expected: dict) -> dict:
    group = elbv2_models.elbv2_backends[stack.account_id][stack.region_name].target_groups.get(physical_id)
    if group is None:
        raise Gone()
    matcher = getattr(group, "matcher", None) or {}
    # TargetGroupAttributes: as for the other key-value lists, only the keys the template sets.
    wanted = {a.get("Key") for a in expected.get("TargetGroupAttributes") or [] if isinstance(a, dict)}
    attributes = [{"Key": k, "Value": render(v)} for k, v in group.attributes.items() if k in wanted]
    actual = {
        "Name": group.name,
        "TargetType": group.target_type,
        "Protocol": group.protocol,
        "ProtocolVersion": group.protocol_version,
        "Port": _int(group.port),
        "VpcId": group.vpc_id,
        "IpAddressType": group.ip_address_type,
        "HealthCheckEnabled": bool(group.health_check_enabled),
        "HealthCheckProtocol": group.health_check_protocol,
        "HealthCheckPort": group.health_check_port,
        "HealthCheckPath": group.health_check_path,
        "HealthCheckIntervalSeconds": _int(group.health_check_interval_seconds),
        "HealthCheckTimeoutSeconds": _int(group.health_check_timeout_seconds),
        "HealthyThresholdCount": _int(group.healthy_threshold_count),
        "UnhealthyThresholdCount": _int(group.unhealthy_threshold_count),
        "Matcher": {k: v for k, v in matcher.items() if k in ("HttpCode", "GrpcCode")} or None,
        "TargetGroupAttributes": attributes,
    }
    return {k: v for k, v in actual.items() if v is not None}


_CONDITION_CONFIGS = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig"}


def _condition(condition: dict) -> dict:
    """ELBv2 answers a path-pattern or host-header condition with both its Values and its
    ...Config.Values, whichever was given."""
    condition = copy.deepcopy(condition)
    config = _CONDITION_CONFIGS.get(condition.get("Field"))
    if config:
        values = condition.get("Values") or (condition.get(config) or {}).get("Values") or []
        condition["Values"] = list(values)
        condition[config] = dict(condition.get(config) or {}, Values=list(values))
    return condition


def _action(data: dict) -> dict:
    """A forward action names its target group both ways, as ELBv2 answers it."""
    action = copy.deepcopy(data)
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if action.get("Type") == "forward" and "TargetGroupArn" not in action and len(groups) == 1:
        action["TargetGroupArn"] = groups[0].get("TargetGroupArn")
    return action


def read_listener_rule(stack, physical_id: str, expected: dict) -> dict:
    backend = elbv2_models.elbv2_backends[stack.account_id][stack.region_name]
    try:
        rule = backend.describe_rules(listener_arn=None, rule_arns=[physical_id])[0]
    except Exception:  # noqa: BLE001 (RuleNotFound, or its listener is gone)
        raise Gone()
    return {
        "ListenerArn": rule.listener_arn,
        "Priority": _int(rule.priority),
        "Conditions": [_condition(c) for c in rule.conditions or []],
        "Actions": [_action(getattr(a, "data", a)) for a in rule.actions or []],
    }


def read_log_group(stack, physical_id: str, expected: dict) -> dict:
    group = logs_models.logs_backends[stack.account_id][stack.region_name].groups.get(physical_id)
    if group is None:
        raise Gone()
    actual = {"LogGroupName": group.name, "RetentionInDays": _int(group.retention_in_days)}
    return {k: v for k, v in actual.items() if v is not None}


def read_scalable_target(stack, physical_id: str, expected: dict) -> dict:
    resource_id, dimension, namespace = (physical_id.split("|") + ["", "", ""])[:3]
    backend = aas_models.applicationautoscaling_backends[stack.account_id][stack.region_name]
    target = backend.targets.get(dimension, {}).get(resource_id)
    if target is None or target.service_namespace != namespace:
        raise Gone()
    return {"ServiceNamespace": target.service_namespace, "ScalableDimension": target.scalable_dimension,
            "ResourceId": target.resource_id, "MinCapacity": _int(target.min_capacity),
            "MaxCapacity": _int(target.max_capacity)}


def read_listener(stack, physical_id: str, expected: dict) -> dict:
    backend = elbv2_models.elbv2_backends[stack.account_id][stack.region_name]
    try:
        listener = backend.describe_listeners(load_balancer_arn=None, listener_arns=[physical_id])[0]
    except Exception:  # noqa: BLE001 (ListenerNotFound)
        raise Gone()
    actual = {
        "LoadBalancerArn": listener.load_balancer_arn,
        "Port": _int(listener.port),
        "Protocol": listener.protocol,
        "SslPolicy": listener.ssl_policy,
        "Certificates": [{"CertificateArn": c} for c in listener.certificates or []] or None,
        "DefaultActions": [_action(getattr(a, "data", a)) for a in listener.default_actions or []],
    }
    return {k: v for k, v in actual.items() if v is not None}


def read_auto_scaling_group(stack, physical_id: str, expected: dict) -> dict:
    group = autoscaling_models.autoscaling_backends[stack.account_id][stack.region_name].autoscaling_groups.get(
        physical_id)
    if group is None:
        raise Gone()
    # The resource schema has the sizes as strings.
    actual = {
        "MinSize": render(group.min_size),
        "MaxSize": render(group.max_size),
        "DesiredCapacity": render(group.desired_capacity),
        "VPCZoneIdentifier": [s for s in (group.vpc_zone_identifier or "").split(",") if s] or None,
        "NewInstancesProtectedFromScaleIn": bool(group.new_instances_protected_from_scale_in),
    }
    return {k: v for k, v in actual.items() if v is not None}


class Reader:
    def __init__(self, read, reads, unordered=()):
        self.read, self.reads, self.unordered = read, set(reads), set(unordered)


# The resource types localaws compares, the properties it reads back, and the lists whose
# order does not matter (those AWS's resource schemas give no insertion order). Properties a
# template sets that are not in `reads` are not compared (they are in ExpectedProperties only).
READERS = {
    "AWS::ECS::Service": Reader(read_service, (
        "ServiceName", "Cluster", "DesiredCount", "TaskDefinition", "LoadBalancers", "DeploymentConfiguration",
        "CapacityProviderStrategy", "PlacementStrategies", "HealthCheckGracePeriodSeconds"),
        unordered=("/LoadBalancers", "/CapacityProviderStrategy")),
    "AWS::ElasticLoadBalancingV2::TargetGroup": Reader(read_target_group, (
        "Name", "TargetType", "Protocol", "ProtocolVersion", "Port", "VpcId", "IpAddressType", "HealthCheckEnabled",
        "HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath", "HealthCheckIntervalSeconds",
        "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher",
        "TargetGroupAttributes"), unordered=("/TargetGroupAttributes",)),
    "AWS::ElasticLoadBalancingV2::ListenerRule": Reader(read_listener_rule, (
        "ListenerArn", "Priority", "Conditions", "Actions"),
        unordered=("/Conditions", "/Conditions/*/Values", "/Conditions/*/PathPatternConfig/Values",
                   "/Conditions/*/HostHeaderConfig/Values")),
    "AWS::ElasticLoadBalancingV2::Listener": Reader(read_listener, (
        "LoadBalancerArn", "Port", "Protocol", "SslPolicy", "Certificates", "DefaultActions"),
        unordered=("/Certificates",)),
    "AWS::Logs::LogGroup": Reader(read_log_group, ("LogGroupName", "RetentionInDays")),
    "AWS::AutoScaling::AutoScalingGroup": Reader(read_auto_scaling_group, (
        "MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "NewInstancesProtectedFromScaleIn"),
        unordered=("/VPCZoneIdentifier",)),
    "AWS::ApplicationAutoScaling::ScalableTarget": Reader(read_scalable_target, (
        "ServiceNamespace", "ScalableDimension", "ResourceId", "MinCapacity", "MaxCapacity")),
}


# --------------------------------------------------------------------------------------------
# Checking one resource
# --------------------------------------------------------------------------------------------

def _plain(value):
    """Resolved template values as JSON: AWS::NoValue (None) leaves, moto objects as their ids."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not None]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(getattr(value, "physical_resource_id", value))


def expected_properties(stack, logical_id: str) -> dict:
    body = stack.resource_map._resource_json_map.get(logical_id) or {}
    return _plain(parsing.clean_json(copy.deepcopy(body.get("Properties") or {}), stack.resource_map)) or {}


class ResourceDrift:
    def __init__(self, stack, logical_id: str, resource_type: str, physical_id: Optional[str], at: float):
        self.stack_id, self.logical_id, self.type, self.physical_id = stack.stack_id, logical_id, resource_type, \
            physical_id
        self.at = at
        self.status = "NOT_CHECKED"
        self.expected = self.actual = None
        self.differences = []
        self.reason = None

    def answer(self) -> dict:
        """A StackResourceDrift."""
        drift = {"StackId": self.stack_id, "LogicalResourceId": self.logical_id, "ResourceType": self.type,
                 "StackResourceDriftStatus": self.status, "Timestamp": lifecycle.moto_time(self.at)}
        if self.physical_id:
            drift["PhysicalResourceId"] = self.physical_id
        if self.expected is not None:
            drift["ExpectedProperties"] = json.dumps(self.expected, separators=(",", ":"))
        if self.actual is not None:
            drift["ActualProperties"] = json.dumps(self.actual, separators=(",", ":"))
        if self.status == "MODIFIED":
            drift["PropertyDifferences"] = self.differences
        if self.reason:
            drift["DriftStatusReason"] = self.reason
        return drift


def check_resource(stack, logical_id: str, resource, at: float) -> ResourceDrift:
    rtype = lifecycle.resource_type(stack, logical_id, resource)
    drift = ResourceDrift(stack, logical_id, rtype, lifecycle.physical(resource), at)
    reader = READERS.get(rtype)
    if reader is None:
        drift.reason = f"localaws does not read back {rtype} resources; their drift is not checked."
        return drift
    try:
        expected = expected_properties(stack, logical_id)
        actual = reader.read(stack, drift.physical_id, expected)
    except Gone:
        drift.status = "DELETED"
        return drift
    except Exception as error:  # noqa: BLE001 (a template or moto state localaws cannot read)
        log.warning("drift of %s in %s: %s", logical_id, stack.name, error)
        drift.status = "UNKNOWN"
        drift.reason = f"Failed to read the resource: {error}"
        return drift
    comparison = Comparison(reader.unordered)
    compared = {k: v for k, v in expected.items() if k in reader.reads}
    typed, seen = comparison.compare(compared, {k: v for k, v in actual.items() if k in compared})
    drift.expected = {k: typed.get(k, v) for k, v in expected.items()}
    drift.actual = seen
    drift.differences = comparison.differences
    drift.status = "MODIFIED" if comparison.differences else "IN_SYNC"
    return drift


# --------------------------------------------------------------------------------------------
# Detections and a stack's drift state
# --------------------------------------------------------------------------------------------

class Detection:
    def __init__(self, stack, started: float, due: float, results: dict):
        self.id = str(uuid.uuid4())
        self.stack_id = stack.stack_id
        self.started, self.due = started, due
        self.results = results  # logical id -> ResourceDrift

    def done(self, at: float) -> bool:
        return at >= self.due

    @property
    def failed(self) -> list:
        return [lid for lid, r in self.results.items() if r.status == "UNKNOWN"]

    @property
    def drifted(self) -> int:
        return sum(1 for r in self.results.values() if r.status in ("MODIFIED", "DELETED"))

    @property
    def stack_status(self) -> str:
        if self.drifted:
            return "DRIFTED"
        if self.failed:
            return "UNKNOWN"
        if any(r.status == "IN_SYNC" for r in self.results.values()):
            return "IN_SYNC"
        return "NOT_CHECKED"  # nothing in the stack was compared: localaws does not claim IN_SYNC

    def answer(self, at: float) -> dict:
        """DescribeStackDriftDetectionStatus."""
        status = {"StackId": self.stack_id, "StackDriftDetectionId": self.id,
                  "Timestamp": lifecycle.moto_time(self.started)}
        if not self.done(at):
            status.update(DetectionStatus="DETECTION_IN_PROGRESS", DetectionStatusReason="User Initiated")
            return status
        status.update(StackDriftStatus=self.stack_status, DriftedStackResourceCount=self.drifted)
        if self.failed:
            status.update(DetectionStatus="DETECTION_FAILED", DetectionStatusReason=(
                f"Failed to detect drift on resources [{', '.join(self.failed)}]: "
                + "; ".join(f"{lid}: {self.results[lid].reason}" for lid in self.failed)))
        else:
            status["DetectionStatus"] = "DETECTION_COMPLETE"
        return status


class StackDrift:
    """What a stack's drift detections found (kept on the stack)."""

    def __init__(self):
        self.pending = []  # stack detections not yet complete, oldest first
        self.resources = {}  # logical id -> the latest ResourceDrift
        self.status = "NOT_CHECKED"
        self.last_check = None

    def catch_up(self, at: float) -> None:
        while self.pending and self.pending[0].done(at):
            detection = self.pending.pop(0)
            self.resources.update(detection.results)
            self.status = detection.stack_status

    def busy(self, at: float) -> bool:
        self.catch_up(at)
        return bool(self.pending)


def drift_of(stack) -> StackDrift:
    drift = getattr(stack, "_localaws_drift", None)
    if drift is None:
        drift = stack._localaws_drift = StackDrift()
    return drift


def detections(backend) -> dict:
    found = getattr(backend, "_localaws_drift_detections", None)
    if found is None:
        found = backend._localaws_drift_detections = {}
    return found


def stack_resources(stack) -> list:
    """(logical id, moto resource) of the stack, in template order (condition-false ones left out)."""
    return lifecycle.existing_resources(stack)


def detectable_stack(backend, stack_name: str):
    lifecycle.settle(backend)
    stack = backend.get_stack(stack_name)
    lc = lifecycle.lifecycle(stack)
    if stack.status not in DETECTABLE or (lc is not None and (lc.busy or lc.frozen)):
        raise ValidationError(stack.stack_id, message=(
            f"Stack [{stack.stack_id}] is in {stack.status} state. Drift detection can be performed only on "
            f"stacks in {', '.join(DETECTABLE[:-1])} or {DETECTABLE[-1]} state."))
    return stack


def detect_stack_drift(backend, stack_name: str, logical_ids: list) -> Detection:
    with lifecycle.LOCK:
        stack = detectable_stack(backend, stack_name)
        drift = drift_of(stack)
        started = lifecycle.now()
        if drift.busy(started):
            raise ValidationError(stack.stack_id, message=(
                f"Drift detection is already in progress for stack [{stack.stack_id}] (detection id "
                f"{drift.pending[-1].id})."))
        resources = stack_resources(stack)
        known = {lid for lid, _ in resources}
        unknown = [lid for lid in logical_ids if lid not in known]
        if unknown:
            raise ValidationError(stack.stack_id, message=(
                f"Resource(s) [{', '.join(unknown)}] do not exist in stack [{stack.name}]."))
        wanted = [(lid, r) for lid, r in resources if not logical_ids or lid in logical_ids]
        results = {lid: check_resource(stack, lid, resource, started) for lid, resource in wanted}
        seconds = max(MIN_SECONDS, lifecycle.CONFIG.step_seconds * len(wanted) / 2)
        detection = Detection(stack, started, started + seconds, results)
        drift.pending.append(detection)
        drift.last_check = started
        detections(backend)[detection.id] = detection
        log.info("drift detection %s of %s: %s", detection.id, stack.name,
                 {lid: r.status for lid, r in results.items()})
        return detection


def detect_stack_resource_drift(backend, stack_name: str, logical_id: str) -> ResourceDrift:
    with lifecycle.LOCK:
        stack = detectable_stack(backend, stack_name)
        resource = dict(stack_resources(stack)).get(logical_id)
        if resource is None:
            raise ValidationError(stack.stack_id, message=(
                f"Resource {logical_id} does not exist for stack {stack_name}"))
        at = lifecycle.now()
        drift = drift_of(stack)
        drift.catch_up(at)
        result = check_resource(stack, logical_id, resource, at)
        drift.resources[logical_id] = result
        drift.last_check = at
        return result


def current_resource_drifts(stack) -> dict:
    """The latest drift of each resource the stack still has (logical id -> ResourceDrift)."""
    drift = getattr(stack, "_localaws_drift", None)
    if drift is None:
        return {}
    drift.catch_up(lifecycle.now())
    types = {lid: lifecycle.resource_type(stack, lid, r) for lid, r in stack_resources(stack)}
    return {lid: r for lid, r in drift.resources.items() if types.get(lid) == r.type}


def resource_drift_information(stack, logical_id: str) -> dict:
    """A resource's DriftInformation (NOT_CHECKED until a detection compared it)."""
    result = current_resource_drifts(stack).get(logical_id)
    if result is None or result.status == "NOT_CHECKED":
        return {"StackResourceDriftStatus": "NOT_CHECKED"}
    return {"StackResourceDriftStatus": result.status, "LastCheckTimestamp": lifecycle.moto_time(result.at)}


# --------------------------------------------------------------------------------------------
# moto: responses, DriftInformation on stacks and resources
# --------------------------------------------------------------------------------------------

def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: Optional[str]) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise ValidationError(message="Invalid NextToken")


def detect_stack_drift_response(self):
    detection = detect_stack_drift(self.cloudformation_backend, self._get_param("StackName"),
                                   self._get_param("LogicalResourceIds", []) or [])
    return ActionResult({"StackDriftDetectionId": detection.id})


def describe_stack_drift_detection_status_response(self):
    detection_id = self._get_param("StackDriftDetectionId")
    with lifecycle.LOCK:
        detection = detections(self.cloudformation_backend).get(detection_id)
        if detection is None:
            raise ValidationError(message=f"Stack drift detection [{detection_id}] does not exist")
        return ActionResult(detection.answer(lifecycle.now()))


def describe_stack_resource_drifts_response(self):
    backend = self.cloudformation_backend
    filters = self._get_param("StackResourceDriftStatusFilters", []) or []
    wrong = [f for f in filters if f not in RESOURCE_STATUSES]
    if wrong:
        raise ValidationError(message=(
            f"1 validation error detected: Value '{wrong}' at 'stackResourceDriftStatusFilters' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(RESOURCE_STATUSES)}]"))
    limit = self._get_int_param("MaxResults")
    if limit is not None and not 1 <= limit <= 100:
        raise ValidationError(message=(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member "
            "must have value between 1 and 100"))
    with lifecycle.LOCK:
        lifecycle.settle(backend)
        stack = backend.get_stack(self._get_param("StackName"))
        drifts = [r.answer() for r in current_resource_drifts(stack).values()
                  if not filters or r.status in filters]
    start = _offset(self._get_param("NextToken"))
    end = len(drifts) if limit is None else start + limit
    result = {"StackResourceDrifts": drifts[start:end]}
    if end < len(drifts):
        result["NextToken"] = _token(end)
    return ActionResult(result)


def detect_stack_resource_drift_response(self):
    drift = detect_stack_resource_drift(self.cloudformation_backend, self._get_param("StackName"),
                                        self._get_param("LogicalResourceId"))
    return ActionResult({"StackResourceDrift": drift.answer()})


@property
def stack_drift_information(self):
    """DescribeStacks' and ListStacks' DriftInformation."""
    drift = getattr(self, "_localaws_drift", None)
    if drift is None:
        return {"StackDriftStatus": "NOT_CHECKED"}
    with lifecycle.LOCK:
        drift.catch_up(lifecycle.now())
        information = {"StackDriftStatus": drift.status}
        if drift.last_check is not None:
            information["LastCheckTimestamp"] = lifecycle.moto_time(drift.last_check)
        return information


def install() -> None:
    response = cfn_responses.CloudFormationResponse
    response.detect_stack_drift = detect_stack_drift_response
    response.describe_stack_drift_detection_status = describe_stack_drift_detection_status_response
    response.describe_stack_resource_drifts = describe_stack_resource_drifts_response
    response.detect_stack_resource_drift = detect_stack_resource_drift_response
    cfn_models.Stack.drift_information = stack_drift_information

    dto_init = cfn_responses.StackResourceDTO.__init__

    def dto_with_drift(self, stack, resource):
        dto_init(self, stack, resource)
        with lifecycle.LOCK:
            self.drift_information = resource_drift_information(stack, self.logical_resource_id)

    cfn_responses.StackResourceDTO.__init__ = dto_with_drift

    list_stack_resources = response.list_stack_resources

    def list_stack_resources_with_drift(self):
        answer = list_stack_resources(self)
        with lifecycle.LOCK:
            stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
            for summary in answer.result.get("StackResourceSummaries", []):
                summary["DriftInformation"] = resource_drift_information(stack, summary.get("LogicalResourceId"))
        return answer

    list_stack_resources_with_drift.__name__ = "list_stack_resources"
    response.list_stack_resources = list_stack_resources_with_drift

