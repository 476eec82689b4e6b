"""Schemathesis hooks of tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document states every rule of a single field. A few rules relate two fields,
or a field and what exists in Berth, which JSON Schema cannot say; the document says them
in words. So that the positive-data check holds Berth to its document, the cases the
generator means to be valid are made to follow those rules too, here, and nothing else is
changed. Negative cases are left as generated.

Each adjustment names the rule it follows (see app/src/validation.rs and
server/src/services/requests.rs).
"""

import os

import schemathesis

# Set by the test: the team of the user the run acts as, and the environment it made.
TEAM = os.environ.get("BERTH_FUZZ_TEAM", "platform")
ENVIRONMENT = os.environ.get("BERTH_FUZZ_ENVIRONMENT", "staging")
REGION = os.environ.get("BERTH_FUZZ_REGION", "us-east-1")

REQUEST_OPERATIONS = {"create_request", "update_request"}
ENVIRONMENT_OPERATIONS = {"create_environment", "update_environment"}


def _positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


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


def _environment(body):
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
    if not _positive(case) or not isinstance(case.body, dict):
        return case
    operation = case.operation.definition.raw.get("operationId")
    if operation in REQUEST_OPERATIONS:
        _request(case.body)
    elif operation in ENVIRONMENT_OPERATIONS:
        _environment(case.body)
    return case
