"""Drift-aware change sets (CreateChangeSet with DeploymentMode REVERT_DRIFT), as AWS
CloudFormation makes them.

An ordinary change set compares the new template with the one the stack last applied, so a
resource changed behind the stack's back stays changed: the same template again has nothing
to update. A drift-aware change set also compares each resource with its live state, and
brings drifted resources back to their template definition. moto 5.2.5 ignores
DeploymentMode. This module, loaded by patched_moto.py after stack_drift.py, adds it:

  * CreateChangeSet (UPDATE) with DeploymentMode REVERT_DRIFT compares every resource of the
    stack with what it really is, with drift detection's readers (stack_drift.check_resource).
    A MODIFIED resource is a Modify change (or adds to the template's own Modify change of
    it) with ResourceDriftStatus MODIFIED and one Details entry per property that differs:
    the live value (BeforeValue, Drift.ActualValue) and the template's (AfterValue,
    Drift.PreviousValue). A change set whose template and parameters are the stack's own is
    then CREATE_COMPLETE instead of FAILED ("didn't contain changes") when something drifted;
  * ExecuteChangeSet updates those resources to their template properties with moto's own
    resource update (the one a stack update uses, patched_moto.py 14-16), inside the same
    UPDATE_IN_PROGRESS ... UPDATE_COMPLETE timeline, each with its resource events;
  * DescribeChangeSet answers DeploymentMode, and any other DeploymentMode is refused with
    the API's validation error.

A resource type drift detection does not read back (NOT_CHECKED) is never reverted.
"""

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError

import stack_drift
import stack_lifecycle as lifecycle

MODES = ("REVERT_DRIFT",)
NO_CHANGES = "didn't contain changes"

# A property drift detection reports as missing (REMOVE: the template has it, the resource
# does not) is added back; one the resource has beyond the template (ADD) is removed.
_CHANGE_TYPES = {"NOT_EQUAL": "Modify", "REMOVE": "Add", "ADD": "Remove"}


def detail(difference: dict) -> dict:
    """A ResourceChangeDetail for one PropertyDifference of a drifted resource."""
    path = difference["PropertyPath"]
    actual, expected = difference.get("ActualValue"), difference.get("ExpectedValue")
    target = {
        "Attribute": "Properties",
        "Name": path.strip("/").split("/")[0],
        "Path": "/Properties" + path,
        "RequiresRecreation": "Never",
        "AttributeChangeType": _CHANGE_TYPES.get(difference.get("DifferenceType"), "Modify"),
        "Drift": {k: v for k, v in (("PreviousValue", expected), ("ActualValue", actual)) if v is not None},
    }
    if actual is not None:
        target["BeforeValue"] = actual
    if expected is not None:
        target["AfterValue"] = expected
    return {"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"}


def drifted(stack) -> list:
    """(logical id, ResourceDrift) of the stack's resources that differ from their template now."""
    at = lifecycle.now()
    found = []
    for logical_id, resource in stack_drift.stack_resources(stack):
        drift = stack_drift.check_resource(stack, logical_id, resource, at)
        if drift.status == "MODIFIED":
            found.append((logical_id, drift))
    return found


def make_drift_aware(change_set) -> None:
    """Adds the stack's drifted resources to a change set created with REVERT_DRIFT."""
    change_set.deployment_mode = "REVERT_DRIFT"
    reverts = []
    for logical_id, drift in drifted(change_set.stack):
        change = next((c for c in change_set.changes if c.logical_resource_id == logical_id), None)
        if change is None:
            change = cfn_models.Change(action="Modify", logical_resource_id=logical_id, resource_type=drift.type)
            change_set.changes.append(change)
        if change.action != "Modify":
            continue
        change.physical_resource_id = drift.physical_id
        change.replacement = "False"
        change.resource_drift_status = "MODIFIED"
        change.details = [detail(d) for d in drift.differences]
        reverts.append(logical_id)
    # Read by stack_lifecycle.execute_change_set: resources its update sets back although the
    # template does not change them.
    change_set.also_update = reverts
    change_set.update_also = lambda stack=change_set.stack, ids=tuple(reverts): revert(stack, ids)
    if reverts and change_set.status == "FAILED" and NO_CHANGES in (change_set.status_reason or ""):
        change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_COMPLETE", "AVAILABLE", None


def revert(stack, logical_ids) -> None:
    """Each resource updated to its template properties, as a stack update of it does."""
    resource_map = stack.resource_map
    for logical_id in logical_ids:
        body = resource_map._resource_json_map.get(logical_id)
        if body is None or resource_map._parsed_resources.get(logical_id) is None:
            continue
        updated = parsing.parse_and_update_resource(logical_id, body, resource_map, stack.account_id,
                                                    stack.region_name)
        if updated is not None:
            resource_map._parsed_resources[logical_id] = updated


def install() -> None:
    response = cfn_responses.CloudFormationResponse
    create_change_set = response.create_change_set

    def create_change_set_drift_aware(self):
        mode = self._get_param("DeploymentMode")
        if mode is not None and mode not in MODES:
            raise ValidationError(message=(
                f"1 validation error detected: Value '{mode}' at 'deploymentMode' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(MODES)}]"))
        answer = create_change_set(self)
        if mode == "REVERT_DRIFT" and self._get_param("ChangeSetType", "CREATE") == "UPDATE":
            with lifecycle.LOCK:
                change_set = self.cloudformation_backend.change_sets.get(answer.result["Id"])
                if change_set is not None:
                    make_drift_aware(change_set)
        return answer

    create_change_set_drift_aware.__name__ = "create_change_set"
    response.create_change_set = create_change_set_drift_aware
    # Change sets without a mode answer none (the serializer leaves a None out).
    cfn_models.ChangeSet.deployment_mode = None
    cfn_models.ChangeSet.also_update = ()
    cfn_models.ChangeSet.update_also = None
