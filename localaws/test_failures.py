"""Tests of localaws failing like AWS: stack operations that take time and fail (rollbacks,
UPDATE_ROLLBACK_FAILED, DELETE_FAILED).

Everything here is opt-in through the control API; each test turns what it set off again.
Run from the repository root:
    .venv/bin/python -m unittest discover -s localaws -p 'test_*.py'
"""

import time
import unittest
import urllib.error

from botocore.exceptions import ClientError

from test_localaws import CLUSTER_STACK, LocalAwsCase, eventually, params

STEP_MS = 100


class FailureTest(LocalAwsCase):
    log_name = "localaws-test-failures.log"

    def tearDown(self):
        super().tearDown()
        self.control("/_localaws/stacks", {})

    # -- helpers

    def service_params(self, name, image="nginx:1.27", desired=1, priority=None):
        return params(
            StackName=CLUSTER_STACK, ServiceName=name, ImageUrl=image, ContainerPort="8080", ContainerCpu="256",
            ContainerMemory="512", Path=f"/{name}*", Priority=str(priority or self.priority),
            DesiredCount=str(desired), HealthCheckPath="/health", TargetGroupName=f"test-{name}")

    def update_through_change_set(self, stack, name, image, desired=1, priority=None):
        """As Berth updates a stack: a change set, then its execution."""
        change_set = f"{stack}-update-{int(time.time() * 1000)}"
        self.cfn.create_change_set(StackName=stack, ChangeSetName=change_set, ChangeSetType="UPDATE",
                                   TemplateBody=self.template("service.yaml"), Capabilities=["CAPABILITY_IAM"],
                                   Parameters=self.service_params(name, image, desired, priority))
        eventually(lambda: self.cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)["Status"]
                   == "CREATE_COMPLETE")
        self.cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)
        return change_set

    def stack(self, name):
        return self.cfn.describe_stacks(StackName=name)["Stacks"][0]

    def status_becomes(self, name, status, timeout=15):
        return eventually(lambda: (s := self.stack(name))["StackStatus"] == status and s, timeout=timeout)

    def events(self, name):
        """Oldest first, as (logical id, status, reason)."""
        answer = self.cfn.describe_stack_events(StackName=name)["StackEvents"]
        times = [e["Timestamp"] for e in answer]
        self.assertEqual(times, sorted(times, reverse=True), "DescribeStackEvents answers newest first")
        return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in reversed(answer)]

    def resources(self, name):
        answer = self.cfn.describe_stack_resources(StackName=name)["StackResources"]
        return {r["LogicalResourceId"]: r["ResourceStatus"] for r in answer}

    def assert_sequence(self, events, expected):
        """`expected` appears in `events` in this order (other events may come between)."""
        position = 0
        for item in expected:
            found = next((i for i in range(position, len(events)) if events[i][:len(item)] == item), None)
            self.assertIsNotNone(found, f"{item} after position {position} in {events}")
            position = found + 1

    # -- stack operations that take time

    def test_a_timed_create_shows_its_resources_in_progress(self):
        self.control("/_localaws/stacks", {"step_ms": STEP_MS})
        stack = self.deploy_service("slow", desired=1)
        first = self.stack(stack)
        self.assertEqual(first["StackStatus"], "CREATE_IN_PROGRESS")
        self.assertNotIn("Outputs", first, "no outputs before the create completes")
        self.assertEqual(self.events(stack)[0], (stack, "CREATE_IN_PROGRESS", "User Initiated"))
        # While it runs, resources show up one after the other, some still in progress.
        eventually(lambda: (r := self.resources(stack)) and "CREATE_IN_PROGRESS" in r.values() and len(r) < 5
                   and self.stack(stack)["StackStatus"] == "CREATE_IN_PROGRESS")
        done = self.status_becomes(stack, "CREATE_COMPLETE")
        self.assertTrue(any(o["OutputKey"] == "TargetGroupArn" for o in done["Outputs"]))
        events = self.events(stack)
        self.assertEqual(events[0], (stack, "CREATE_IN_PROGRESS", "User Initiated"))
        self.assertEqual(events[-1], (stack, "CREATE_COMPLETE", None))
        resources = self.resources(stack)
        self.assertEqual(set(resources.values()), {"CREATE_COMPLETE"})
        for logical_id in resources:
            self.assert_sequence(events, [(logical_id, "CREATE_IN_PROGRESS", None),
                                          (logical_id, "CREATE_IN_PROGRESS", "Resource creation Initiated"),
                                          (logical_id, "CREATE_COMPLETE", None)])
        # The group comes before the rule that forwards to it, the rule before the service.
        order = [lid for lid, status, _ in events if status == "CREATE_COMPLETE" and lid != stack]
        self.assertLess(order.index("TargetGroup"), order.index("ListenerRule"))
        self.assertLess(order.index("ListenerRule"), order.index("Service"))
        answer = self.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        span = answer[0]["Timestamp"] - answer[-1]["Timestamp"]
        self.assertGreater(span.total_seconds(), len(resources) * STEP_MS / 1000, "the events took time")
        self.steady("slow", desired=1)

    def test_a_busy_stack_refuses_updates_and_a_timed_delete_takes_time(self):
        stack = self.deploy_service("busy", desired=1)
        self.steady("busy", desired=1)
        self.control("/_localaws/stacks", {"step_ms": STEP_MS * 3})
        self.update_through_change_set(stack, "busy", "nginx:1.28")
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_IN_PROGRESS")
        with self.assertRaises(ClientError) as refused:
            self.cfn.create_change_set(StackName=stack, ChangeSetName="again", ChangeSetType="UPDATE",
                                       UsePreviousTemplate=True, Parameters=self.service_params("busy", "nginx:1.29"))
        self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationError")
        self.assertIn("UPDATE_IN_PROGRESS state and can not be updated", refused.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as refused:
            self.cfn.delete_stack(StackName=stack)
        self.assertIn("cannot be deleted while in status UPDATE_", refused.exception.response["Error"]["Message"])
        self.status_becomes(stack, "UPDATE_COMPLETE", timeout=20)
        events = self.events(stack)
        self.assert_sequence(events, [
            (stack, "UPDATE_IN_PROGRESS", "User Initiated"),
            ("TaskDefinition", "UPDATE_IN_PROGRESS", None),
            ("TaskDefinition", "UPDATE_IN_PROGRESS",
             "Requested update requires the creation of a new physical resource; hence creating one."),
            ("TaskDefinition", "UPDATE_COMPLETE", None),
            ("Service", "UPDATE_IN_PROGRESS", None), ("Service", "UPDATE_COMPLETE", None),
            (stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None),
            ("TaskDefinition", "DELETE_COMPLETE", None),
            (stack, "UPDATE_COMPLETE", None)])
        self.assertIn("LastUpdatedTime", self.stack(stack))

        self.cfn.delete_stack(StackName=stack)
        self.assertEqual(self.stack(stack)["StackStatus"], "DELETE_IN_PROGRESS")
        stack_id = self.stack(stack)["StackId"]
        eventually(lambda: self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
                   == "DELETE_COMPLETE", timeout=20)
        with self.assertRaises(ClientError) as gone:
            self.cfn.describe_stacks(StackName=stack)
        self.assertIn("does not exist", gone.exception.response["Error"]["Message"])
        self.assert_sequence(self.events(stack_id), [
            (stack, "DELETE_IN_PROGRESS", "User Initiated"), ("Service", "DELETE_IN_PROGRESS", None),
            ("Service", "DELETE_COMPLETE", None), ("TargetGroup", "DELETE_COMPLETE", None),
            (stack, "DELETE_COMPLETE", None)])
        eventually(lambda: not self.tasks("busy"))

    # -- a resource that fails

    def test_a_failed_resource_rolls_the_create_back(self):
        stack = "berth-test-doomed-create"
        reason = 'Resource handler returned message: "Priority \'1\' is currently in use" (HandlerErrorCode: AlreadyExists)'
        self.control("/_localaws/stacks", {"step_ms": STEP_MS, "failures": [
            {"logical_id": "ListenerRule", "stack": stack, "operation": "CREATE", "reason": reason}]})
        self.deploy_service("doomed-create", desired=1)
        self.assertEqual(self.stack(stack)["StackStatus"], "CREATE_IN_PROGRESS")
        done = self.status_becomes(stack, "ROLLBACK_COMPLETE")
        self.assertNotIn("Outputs", done)
        events = self.events(stack)
        self.assert_sequence(events, [
            (stack, "CREATE_IN_PROGRESS", "User Initiated"),
            ("TargetGroup", "CREATE_COMPLETE", None),
            ("ListenerRule", "CREATE_IN_PROGRESS", None),
            ("ListenerRule", "CREATE_FAILED", reason),
            (stack, "ROLLBACK_IN_PROGRESS",
             "The following resource(s) failed to create: [ListenerRule]. Rollback requested by user."),
            ("ListenerRule", "DELETE_COMPLETE", None),
            ("TargetGroup", "DELETE_IN_PROGRESS", None), ("TargetGroup", "DELETE_COMPLETE", None),
            (stack, "ROLLBACK_COMPLETE", None)])
        self.assertNotIn("Service", {lid for lid, _, _ in events}, "nothing after the failed resource started")
        resources = self.resources(stack)
        self.assertEqual(set(resources.values()), {"DELETE_COMPLETE"}, resources)
        # The rollback really deleted what the create made (what moto can delete: it leaves a
        # stack's target groups behind whenever it deletes them).
        logs = self.client("logs").describe_log_groups(logGroupNamePrefix=f"/berth/{CLUSTER_STACK}/doomed-create")
        self.assertEqual(logs["logGroups"], [])
        with self.assertRaises(ClientError) as refused:
            self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True,
                                  Parameters=self.service_params("doomed-create", desired=2))
        self.assertIn("ROLLBACK_COMPLETE state and can not be updated", refused.exception.response["Error"]["Message"])
        # A rolled-back stack can only be deleted; then the name is free again.
        self.control("/_localaws/stacks", {})
        self.cfn.delete_stack(StackName=stack)
        with self.assertRaises(ClientError):
            self.cfn.describe_stacks(StackName=stack)
        self.deploy_service("doomed-create", desired=1)
        self.assertEqual(self.stack(stack)["StackStatus"], "CREATE_COMPLETE")
        self.steady("doomed-create", desired=1)

    def test_a_failed_resource_rolls_the_update_back(self):
        stack = self.deploy_service("doomed-update", desired=1)
        before = self.steady("doomed-update", desired=1)
        definition = before["taskDefinition"]
        self.control("/_localaws/stacks", {"step_ms": STEP_MS, "failures": [
            {"logical_id": "Service", "stack": stack, "operation": "UPDATE"}]})
        change_set = self.update_through_change_set(stack, "doomed-update", "nginx:1.28")
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_IN_PROGRESS")
        done = self.status_becomes(stack, "UPDATE_ROLLBACK_COMPLETE")
        events = self.events(stack)
        failed = next(e for e in events if e[:2] == ("Service", "UPDATE_FAILED"))
        self.assertRegex(failed[2], r'^Resource handler returned message: ".*" \(RequestToken: [0-9a-f-]{36}, '
                                    r'HandlerErrorCode: \w+\)$')
        self.assert_sequence(events, [
            (stack, "UPDATE_IN_PROGRESS", "User Initiated"),
            ("TaskDefinition", "UPDATE_IN_PROGRESS", None), ("TaskDefinition", "UPDATE_COMPLETE", None),
            ("Service", "UPDATE_IN_PROGRESS", None), ("Service", "UPDATE_FAILED"),
            (stack, "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Service]."),
            ("Service", "UPDATE_IN_PROGRESS", None), ("Service", "UPDATE_COMPLETE", None),
            ("TaskDefinition", "UPDATE_IN_PROGRESS", None), ("TaskDefinition", "UPDATE_COMPLETE", None),
            (stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
            (stack, "UPDATE_ROLLBACK_COMPLETE", None)])
        # The stack and the service are what they were before.
        image = next(p["ParameterValue"] for p in done["Parameters"] if p["ParameterKey"] == "ImageUrl")
        self.assertEqual(image, "nginx:1.27")
        self.assertEqual(self.steady("doomed-update", desired=1)["taskDefinition"], definition)
        described = self.cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
        self.assertEqual(described["ExecutionStatus"], "EXECUTE_FAILED")
        # A stack back from a rollback takes updates again.
        self.control("/_localaws/stacks", {})
        self.update_through_change_set(stack, "doomed-update", "nginx:1.28")
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_COMPLETE")

    def test_a_failed_rollback_continues_with_the_resource_skipped(self):
        stack = self.deploy_service("stuck", desired=1)
        self.steady("stuck", desired=1)
        rollback_reason = 'Resource handler returned message: "Service was not ACTIVE." (HandlerErrorCode: NotFound)'
        self.control("/_localaws/stacks", {"step_ms": STEP_MS / 2, "failures": [
            {"logical_id": "Service", "stack": stack, "operation": "UPDATE"},
            {"logical_id": "Service", "stack": stack, "operation": "UPDATE_ROLLBACK", "reason": rollback_reason}]})
        self.update_through_change_set(stack, "stuck", "nginx:1.28")
        failed = self.status_becomes(stack, "UPDATE_ROLLBACK_FAILED")
        self.assertEqual(failed["StackStatusReason"], "The following resource(s) failed to update: [Service].")
        self.assert_sequence(self.events(stack), [
            ("Service", "UPDATE_FAILED"), (stack, "UPDATE_ROLLBACK_IN_PROGRESS"),
            ("Service", "UPDATE_IN_PROGRESS", None), ("Service", "UPDATE_FAILED", rollback_reason),
            (stack, "UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update: [Service].")])
        self.assertNotIn(("TaskDefinition", "UPDATE_COMPLETE", None), self.events(stack)[-3:])
        self.assertEqual(self.resources(stack)["Service"], "UPDATE_FAILED")
        with self.assertRaises(ClientError) as refused:
            self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=self.service_params("stuck"))
        self.assertIn("UPDATE_ROLLBACK_FAILED state and can not be updated",
                      refused.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as refused:
            self.cfn.continue_update_rollback(StackName=stack, ResourcesToSkip=["TaskDefinition"])
        self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationError")
        # Skipping the resource that cannot roll back finishes the rollback.
        self.cfn.continue_update_rollback(StackName=stack, ResourcesToSkip=["Service"])
        self.status_becomes(stack, "UPDATE_ROLLBACK_COMPLETE")
        events = self.events(stack)
        self.assert_sequence(events, [
            (stack, "UPDATE_ROLLBACK_FAILED"),
            (stack, "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated"),
            ("Service", "UPDATE_COMPLETE", "Resource skipped during UpdateRollback"),
            ("TaskDefinition", "UPDATE_IN_PROGRESS", None), ("TaskDefinition", "UPDATE_COMPLETE", None),
            (stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
            (stack, "UPDATE_ROLLBACK_COMPLETE", None)])
        self.assertEqual(set(self.resources(stack).values()) - {"CREATE_COMPLETE"}, {"UPDATE_COMPLETE"})
        with self.assertRaises(ClientError) as refused:
            self.cfn.continue_update_rollback(StackName=stack)
        self.assertIn("UPDATE_ROLLBACK_COMPLETE", refused.exception.response["Error"]["Message"])

    def test_a_failed_rollback_can_be_continued_once_the_cause_is_gone(self):
        stack = self.deploy_service("retried", desired=1)
        self.steady("retried", desired=1)
        self.control("/_localaws/stacks", {"failures": [
            {"logical_id": "Service", "stack": stack, "operation": "UPDATE"},
            {"logical_id": "TaskDefinition", "stack": stack, "operation": "UPDATE_ROLLBACK", "times": 1}]})
        self.update_through_change_set(stack, "retried", "nginx:1.28")
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_ROLLBACK_FAILED", "step 0: at once")
        self.cfn.continue_update_rollback(StackName=stack)
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_ROLLBACK_COMPLETE")
        self.assert_sequence(self.events(stack), [
            (stack, "UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update: [TaskDefinition]."),
            (stack, "UPDATE_ROLLBACK_IN_PROGRESS", "User Initiated"),
            ("TaskDefinition", "UPDATE_IN_PROGRESS", None), ("TaskDefinition", "UPDATE_COMPLETE", None),
            (stack, "UPDATE_ROLLBACK_COMPLETE", None)])

    def test_a_failed_delete_is_finished_by_retaining_the_resource(self):
        stack = self.deploy_service("sticky", desired=1)
        self.steady("sticky", desired=1)
        group = self.target_group(stack)
        with self.assertRaises(ClientError) as refused:
            self.cfn.delete_stack(StackName=stack, RetainResources=["TargetGroup"])
        self.assertIn("DELETE_FAILED", refused.exception.response["Error"]["Message"])
        reason = ('Resource handler returned message: "Target group is currently in use by a listener or a rule" '
                  '(HandlerErrorCode: ResourceConflict)')
        self.control("/_localaws/stacks", {"step_ms": STEP_MS / 2, "failures": [
            {"logical_id": "TargetGroup", "stack": stack, "operation": "DELETE", "reason": reason}]})
        self.cfn.delete_stack(StackName=stack)
        failed = self.status_becomes(stack, "DELETE_FAILED")
        self.assertEqual(failed["StackStatusReason"], "The following resource(s) failed to delete: [TargetGroup]. ")
        self.assert_sequence(self.events(stack), [
            (stack, "DELETE_IN_PROGRESS", "User Initiated"),
            ("Service", "DELETE_IN_PROGRESS", None), ("Service", "DELETE_COMPLETE", None),
            ("ListenerRule", "DELETE_COMPLETE", None),
            ("TargetGroup", "DELETE_IN_PROGRESS", None), ("TargetGroup", "DELETE_FAILED", reason),
            (stack, "DELETE_FAILED", "The following resource(s) failed to delete: [TargetGroup]. ")])
        resources = self.resources(stack)
        self.assertEqual((resources["Service"], resources["TargetGroup"]), ("DELETE_COMPLETE", "DELETE_FAILED"))
        # Only resources that failed to delete may be retained.
        with self.assertRaises(ClientError) as refused:
            self.cfn.delete_stack(StackName=stack, RetainResources=["Service"])
        self.assertIn("DELETE_COMPLETE state", refused.exception.response["Error"]["Message"])
        # Deleting again fails the same way while the cause stays.
        self.cfn.delete_stack(StackName=stack)
        eventually(lambda: [e[1] for e in self.events(stack)].count("DELETE_FAILED") == 4)
        self.assertEqual(self.stack(stack)["StackStatus"], "DELETE_FAILED")
        stack_id = self.stack(stack)["StackId"]
        self.cfn.delete_stack(StackName=stack, RetainResources=["TargetGroup"])
        eventually(lambda: self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
                   == "DELETE_COMPLETE")
        self.assert_sequence(self.events(stack_id), [
            (stack, "DELETE_FAILED"), (stack, "DELETE_IN_PROGRESS", "User Initiated"),
            ("TargetGroup", "DELETE_SKIPPED", None), ("TaskDefinition", "DELETE_COMPLETE", None),
            (stack, "DELETE_COMPLETE", None)])
        # The retained target group is kept; the rest is gone.
        self.assertEqual(self.elb.describe_target_groups(TargetGroupArns=[group])["TargetGroups"][0]["TargetGroupArn"],
                         group)
        eventually(lambda: not self.tasks("sticky"))

    # -- the control API

    def test_the_control_api_rejects_bad_failures(self):
        for path, body in [
                ("/_localaws/stacks", {"step_ms": -1}),
                ("/_localaws/stacks", {"failures": [{"stack": "x"}]}),
                ("/_localaws/stacks", {"failures": [{"logical_id": "X", "operation": "EXPLODE"}]}),
                ("/_localaws/stacks", {"slow": True})]:
            with self.subTest(path=path, body=body):
                with self.assertRaises(urllib.error.HTTPError) as raised:
                    self.control(path, body)
                self.assertEqual(raised.exception.code, 400)
        self.assertEqual(self.control("/_localaws/stacks", {"step_ms": 250})["step_ms"], 250)
        self.assertEqual(self.control_get("/_localaws/stacks"), {"step_ms": 250, "failures": []})


if __name__ == "__main__":
    unittest.main()
