"""Schemathesis hooks of tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

Two kinds of adjustment, both documented where they are made: the run keeps its own
credentials (below, in map_case), and cases meant to be valid follow the rules JSON Schema
cannot state.

The OpenAPI document states every rule of a single field. A few rules relate two fields,
or a field and what exists in Berth, which JSON Schema cannot say; the document says them
in words. So that the positive-data check holds Berth to its document, the cases the
generator means to be valid are made to follow those rules too, here, and nothing else is
changed. Negative cases are left as generated.

Each adjustment names the rule it follows (see app/src/validation.rs and
server/src/services/requests.rs).
"""

import json
import os
import urllib.request
from datetime import datetime, timezone

import schemathesis

# Set by the test: the team of the user the run acts as, and the environment it made.
TEAM = os.environ.get("BERTH_FUZZ_TEAM", "platform")
ENVIRONMENT = os.environ.get("BERTH_FUZZ_ENVIRONMENT", "staging")
REGION = os.environ.get("BERTH_FUZZ_REGION", "us-east-1")
# Where Berth answers, and the run's token, to read what a case changes.
URL = os.environ.get("BERTH_FUZZ_URL", "")
TOKEN = os.environ.get("BERTH_FUZZ_TOKEN", "")
# The run's own account, and another it may change instead.
SELF = os.environ.get("BERTH_FUZZ_SELF", "1")
OTHER = os.environ.get("BERTH_FUZZ_OTHER", "2")

REQUEST_OPERATIONS = {"create_request", "update_request"}
AUDIT_OPERATIONS = {"list_audit", "export_audit"}
ENVIRONMENT_OPERATIONS = {"create_environment", "update_environment"}


def _positive(case):
    # A case without generation data (one the stateful phase builds from a link) is meant to
    # be valid, and the positive-data check treats it so.
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def _request(body):
    # The environment must exist.
    body["environment"] = ENVIRONMENT
    # It must fit on the environment's hosts (t3.medium: 2048 CPU units) beside the
    # others, at twice its tasks while it deploys.
    body["cpu"] = min(body.get("cpu", 256), 256)
    body["memory"] = min(body.get("memory", 512), 512)
    body["desired_count"] = min(body.get("desired_count", 1), 2)
    scaling = body.get("autoscaling")
    if isinstance(scaling, dict):
        # Minimum <= desired count <= maximum, and a CPU target is a percentage.
        low, high = sorted((min(scaling["min"], 2), min(scaling["max"], 2)))
        scaling["min"], scaling["max"] = low, high
        body["desired_count"] = low
        if scaling.get("metric") == "cpu":
            scaling["target"] = min(scaling["target"], 100)
    # Variable names are unique, and a secret's name is not also a variable's.
    seen = set()
    variables = []
    for variable in body.get("environment_variables") or []:
        if variable["name"] not in seen:
            seen.add(variable["name"])
            variables.append(variable)
    if "environment_variables" in body:
        body["environment_variables"] = variables
    secrets = []
    for secret in body.get("secrets") or []:
        if secret["name"] not in seen:
            seen.add(secret["name"])
            # A secret is one of the team's own.
            secret["value_from"] = f"arn:aws:ssm:{REGION}:123456789012:parameter/{TEAM}/{len(secrets)}"
            secrets.append(secret)
    if "secrets" in body:
        body["secrets"] = secrets
    # A task role is one of the team's own (named after it); the run has none.
    if body.get("task_role_arn") is not None:
        body["task_role_arn"] = None


def _current(request_id):
    # The request as Berth holds it now, or None (unknown, not visible, or not a number).
    if not (URL and TOKEN and request_id.isdigit()):
        return None
    call = urllib.request.Request(f"{URL}/api/v1/requests/{request_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(call, timeout=10) as answer:
            return json.load(answer)
    except (OSError, ValueError):
        return None


def _revision(body, request_id):
    # A new revision keeps the API's environment and service name (a different one is a
    # new API); so it names the ones the request has.
    current = _current(request_id)
    if current:
        body["environment"] = current["environment"]
        body["service_name"] = current["service_name"]


def _instant(text):
    # A day stands for its start; a time may use any offset, as RFC 3339 allows.
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _audit(query):
    # A range runs forwards: `from` is not after `to`.
    start, end = _instant(query.get("from") or ""), _instant(query.get("to") or "")
    if start and end and start > end:
        query["from"], query["to"] = query["to"], query["from"]


def _environment(body):
    # An external id goes with a role.
    if body.get("external_id") is not None and body.get("role_arn") is None:
        body["external_id"] = None
    parameters = body.get("parameters")
    if isinstance(parameters, dict):
        # The maximum size is at least the desired capacity.
        low, high = sorted((parameters["DesiredCapacity"], parameters["MaxSize"]))
        parameters["DesiredCapacity"], parameters["MaxSize"] = low, high
        # A load balancer's certificate is from its own region.
        arn = parameters.get("CertificateArn")
        if isinstance(arn, str) and arn.count(":") >= 5:
            parts = arn.split(":", 5)
            parts[3] = body.get("region", REGION)
            parameters["CertificateArn"] = ":".join(parts)


@schemathesis.hook
def map_case(context, case):
    operation = case.operation.definition.raw.get("operationId")
    # The run acts through its own account's token: a valid change of that account (a new
    # password, another role) would end the run's credentials and turn the rest of it into
    # 401s. Another account takes the change instead, whatever produced the id (a generated
    # value, or a link from GET /me).
    if operation == "update_user" and (case.path_parameters or {}).get("id") == SELF:
        case.path_parameters["id"] = OTHER
    if not _positive(case):
        return case
    if operation in AUDIT_OPERATIONS and isinstance(case.query, dict):
        _audit(case.query)
    if not isinstance(case.body, dict):
        return case
    if operation in REQUEST_OPERATIONS:
        _request(case.body)
    if operation == "update_request":
        _revision(case.body, str((case.path_parameters or {}).get("id", "")))
    elif operation in ENVIRONMENT_OPERATIONS:
        _environment(case.body)
    return case

