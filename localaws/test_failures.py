"""Tests of localaws failing like AWS: stack operations that take time and fail (rollbacks,
UPDATE_ROLLBACK_FAILED, DELETE_FAILED) and ECS tasks that cannot start, exit or fail their
health checks (stop codes, service events, the deployment circuit breaker).

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
        self.control("/_localaws/tasks/failures", {"rules": [{"image": "*:does-not-exist", "failure": "pull"}]})

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

    def stopped_tasks(self, name):
        return self.tasks(name, "STOPPED")

    def messages(self, name):
        return [e["message"] for e in self.service(name)["events"]]

    def assert_sequence(self, events, expected):
        """`expected` appears in `events` in this order (other events may come between)."""
        position = 0
        for item in expected:
            found = next((i for i in range(position, len(events)) if events[i][:len(item)] == item), None)
            self.assertIsNotNone(found, f"{item} after position {position} in {events}")
            position = found + 1

    # -- stack operations that take time

    def test_a_timed_create_shows_its_resources_in_progress(self):
        # Slower steps than the other tests: the poll below must see the create half-way even
        # on a loaded machine, where each of its calls takes a good part of a 100 ms step.
        self.control("/_localaws/stacks", {"step_ms": 4 * STEP_MS})
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
        self.control("/_localaws/stacks", {"step_ms": STEP_MS * 2})
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

        self.cfn.delete_stack(StackName=stack, ClientRequestToken="berth-7-service-delete")
        self.assertEqual(self.stack(stack)["StackStatus"], "DELETE_IN_PROGRESS")
        self.cfn.delete_stack(StackName=stack)  # again while it is deleted: accepted, nothing more
        stack_id = self.stack(stack)["StackId"]
        eventually(lambda: self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
                   == "DELETE_COMPLETE", timeout=20)
        with self.assertRaises(ClientError) as gone:
            self.cfn.describe_stacks(StackName=stack)
        self.assertIn("does not exist", gone.exception.response["Error"]["Message"])
        newest = self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        start = next(i for i, e in enumerate(newest) if e["LogicalResourceId"] == stack
                     and e["ResourceStatus"] == "DELETE_IN_PROGRESS")
        self.assertEqual({e.get("ClientRequestToken") for e in newest[:start + 1]}, {"berth-7-service-delete"},
                         "the delete's events carry its token")
        self.assert_sequence(self.events(stack_id), [
            (stack, "DELETE_IN_PROGRESS", "User Initiated"), ("Service", "DELETE_IN_PROGRESS", None),
            ("Service", "DELETE_COMPLETE", None), ("TargetGroup", "DELETE_COMPLETE", None),
            (stack, "DELETE_COMPLETE", None)])
        eventually(lambda: not self.tasks("busy"))

    def test_a_timed_cluster_stack_and_what_moto_cannot_delete(self):
        """Berth's cluster stack (every resource type it has) through a timeline; moto cannot
        delete the VPC (it never deletes route tables), which a timed delete reports as
        CloudFormation would, and retaining the VPC finishes the delete."""
        self.control("/_localaws/stacks", {"step_ms": 10})
        stack = "berth-test-timed-cluster"
        self.cfn.create_stack(StackName=stack, TemplateBody=self.template("cluster.yaml"), Capabilities=["CAPABILITY_IAM"],
                              Parameters=params(DesiredCapacity="1", MaxSize="2", InstanceType="t3.medium"))
        self.assertEqual(self.stack(stack)["StackStatus"], "CREATE_IN_PROGRESS")
        self.assertNotIn(f"{stack}:ClusterName", [e["Name"] for e in self.cfn.list_exports()["Exports"]],
                         "no exports before the create completes")
        self.status_becomes(stack, "CREATE_COMPLETE")
        self.assertIn(f"{stack}:ClusterName", [e["Name"] for e in self.cfn.list_exports()["Exports"]])
        resources = self.resources(stack)
        self.assertGreater(len(resources), 20)
        self.assertEqual(set(resources.values()), {"CREATE_COMPLETE"})
        self.cfn.delete_stack(StackName=stack)
        failed = self.status_becomes(stack, "DELETE_FAILED")
        self.assertEqual(failed["StackStatusReason"], "The following resource(s) failed to delete: [VPC]. ")
        self.assertEqual(self.resources(stack)["VPC"], "DELETE_FAILED")
        stack_id = failed["StackId"]
        self.cfn.delete_stack(StackName=stack, RetainResources=["VPC"])
        eventually(lambda: self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
                   == "DELETE_COMPLETE")
        self.assertNotIn(f"{stack}:ClusterName", [e["Name"] for e in self.cfn.list_exports()["Exports"]])

    # -- a resource that fails

    def test_a_failed_resource_rolls_the_create_back(self):
        stack = "berth-test-doomed-create"
        reason = 'Resource handler returned message: "Priority \'1\' is currently in use" (HandlerErrorCode: AlreadyExists)'
        self.control("/_localaws/stacks", {"step_ms": STEP_MS, "failures": [
            {"logical_id": "ListenerRule", "stack": stack, "operation": "CREATE", "reason": reason}]})
        self.deploy_service("doomed-create", desired=1)
        self.assertIn(self.stack(stack)["StackStatus"], ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"), "it takes time")
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
        self.assertIn(self.stack(stack)["StackStatus"], ("UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"))
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

    def test_update_stack_fails_the_same_way(self):
        stack = self.deploy_service("direct", desired=1)
        self.steady("direct", desired=1)
        self.control("/_localaws/stacks", {"failures": [
            {"logical_id": "TaskDefinition", "stack": "berth-test-dir*", "operation": "UPDATE", "times": 1}]})
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=self.service_params(
            "direct", "nginx:1.28"))
        done = self.stack(stack)
        self.assertEqual(done["StackStatus"], "UPDATE_ROLLBACK_COMPLETE", "without a step: at once")
        events = self.events(stack)
        update = events[max(i for i, e in enumerate(events) if e == (stack, "UPDATE_IN_PROGRESS", "User Initiated")):]
        self.assertEqual([e[:2] for e in update], [
            (stack, "UPDATE_IN_PROGRESS"), ("TaskDefinition", "UPDATE_IN_PROGRESS"),
            ("TaskDefinition", "UPDATE_FAILED"), (stack, "UPDATE_ROLLBACK_IN_PROGRESS"),
            ("TaskDefinition", "UPDATE_IN_PROGRESS"), ("TaskDefinition", "UPDATE_COMPLETE"),
            (stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"), (stack, "UPDATE_ROLLBACK_COMPLETE")])
        self.assertTrue(update[2][2].startswith("Resource handler returned message: "), update[2])
        self.assertEqual(update[3][2], "The following resource(s) failed to update: [TaskDefinition].")
        # times: 1. The next update goes through (and the stack's events keep their order).
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=self.service_params(
            "direct", "nginx:1.28"))
        self.assertEqual(self.stack(stack)["StackStatus"], "UPDATE_COMPLETE")
        image = next(p["ParameterValue"] for p in self.stack(stack)["Parameters"] if p["ParameterKey"] == "ImageUrl")
        self.assertEqual(image, "nginx:1.28")
        self.assertEqual(self.control_get("/_localaws/stacks")["failures"][0]["fired"], 1)

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

    # -- ECS tasks that fail

    def test_an_image_that_does_not_exist_cannot_be_pulled(self):
        self.deploy_service("nopull", desired=1, image="nginx:does-not-exist")
        # The circuit breaker of the first deployment: nothing to roll back to, so it stops.
        service = eventually(lambda: (s := self.service("nopull"))["deployments"][0]["rolloutState"] == "FAILED" and s)
        deployment = service["deployments"][0]
        self.assertEqual(deployment["rolloutStateReason"], "ECS deployment circuit breaker: tasks failed to start.")
        self.assertGreaterEqual(deployment["failedTasks"], 3)
        self.assertEqual((service["runningCount"], service["pendingCount"]), (0, 0))
        messages = self.messages("nopull")
        self.assertIn(f"(service nopull) (deployment {deployment['id']}) deployment failed: tasks failed to start.",
                      messages)
        self.assertEqual(sum("has started 1 tasks" in m for m in messages), deployment["failedTasks"])
        stopped = self.stopped_tasks("nopull")
        self.assertEqual(len(stopped), deployment["failedTasks"])
        task = stopped[0]
        reason = ("CannotPullContainerError: Error response from daemon: manifest for nginx:does-not-exist not found: "
                  "manifest unknown: manifest unknown")
        self.assertEqual((task["lastStatus"], task["desiredStatus"], task["stopCode"], task["stoppedReason"]),
                         ("STOPPED", "STOPPED", "TaskFailedToStart", reason))
        self.assertNotIn("startedAt", task)
        self.assertEqual(task["containers"][0]["reason"], reason)
        self.assertNotIn("exitCode", task["containers"][0])
        self.assertEqual(task["startedBy"], deployment["id"])
        # A failed deployment starts no more tasks.
        time.sleep(0.5)
        self.assertEqual(len(self.stopped_tasks("nopull")), len(stopped))
        self.assertEqual(self.tasks("nopull"), [])

    def test_an_essential_container_that_exits_is_replaced(self):
        self.control("/_localaws/tasks/failures", {"rules": [
            {"image": "*/crasher:*", "failure": "exit", "exit_code": 3, "after_ms": 200, "times": 1}]})
        self.deploy_service("crasher", desired=1, image="example.com/crasher:1")
        stopped = eventually(lambda: self.stopped_tasks("crasher"))
        task = stopped[0]
        self.assertEqual((task["stopCode"], task["stoppedReason"]),
                         ("EssentialContainerExited", "Essential container in task exited"))
        self.assertEqual(task["containers"][0]["exitCode"], 3)
        self.assertNotIn("reason", task["containers"][0])
        self.assertLessEqual(task["startedAt"], task["stoppedAt"])
        self.assertGreaterEqual((task["stoppedAt"] - task["startedAt"]).total_seconds(), 0.2)
        service = self.steady("crasher", desired=1)
        self.assertEqual(sum("has started 1 tasks" in m for m in self.messages("crasher")), 2)
        self.assertEqual(service["deployments"][0]["failedTasks"], 1)
        rules = self.control_get("/_localaws/tasks/failures")["rules"]
        self.assertEqual(rules[0]["matched"], 1)

    def test_a_failing_container_health_check_gets_the_task_replaced(self):
        self.control("/_localaws/tasks/failures", {"rules": [
            {"image": "*:sick", "failure": "unhealthy", "after_ms": 100, "times": 1}]})
        self.deploy_service("sick", desired=1, image="nginx:sick")
        unhealthy = eventually(lambda: (t := self.tasks("sick")) and t[0]["healthStatus"] == "UNHEALTHY" and t[0])
        self.assertEqual(unhealthy["containers"][0]["healthStatus"], "UNHEALTHY")
        self.assertEqual(unhealthy["lastStatus"], "RUNNING")
        stopped = eventually(lambda: self.stopped_tasks("sick"))[0]
        self.assertEqual(stopped["taskArn"], unhealthy["taskArn"])
        self.assertEqual((stopped["stopCode"], stopped["stoppedReason"]),
                         ("ServiceSchedulerInitiated", "Task failed container health checks"))
        self.assertEqual(stopped["containers"][0]["exitCode"], 137)
        self.steady("sick", desired=1)
        task_id = unhealthy["taskArn"].rsplit("/", 1)[-1]
        messages = list(reversed(self.messages("sick")))
        failed = messages.index(f"(service sick) (task {task_id}) failed container health checks.")
        self.assertIn(f"(service sick) has stopped 1 running tasks: (task {task_id}).", messages[failed:])
        replaced = [m for m in messages[failed:] if m.startswith("(service sick) has started 1 tasks")]
        self.assertTrue(replaced and replaced[0].endswith(" Amazon ECS replaced 1 tasks due to an unhealthy status."),
                        messages)

    def test_the_circuit_breaker_rolls_a_failed_deployment_back(self):
        stack = self.deploy_service("breaker", desired=2)
        old = self.steady("breaker", desired=2)
        old_deployment, old_definition = old["deployments"][0]["id"], old["taskDefinition"]
        old_tasks = {t["taskArn"] for t in self.tasks("breaker")}
        self.update_through_change_set(stack, "breaker", "nginx:does-not-exist", desired=2)
        failed = eventually(lambda: (s := self.service("breaker"))["deployments"][0]["id"] == old_deployment
                            and len(s["deployments"]) == 2 and s)
        primary, active = failed["deployments"]
        self.assertEqual((primary["status"], primary["rolloutState"], primary["taskDefinition"]),
                         ("PRIMARY", "IN_PROGRESS", old_definition))
        self.assertEqual(primary["rolloutStateReason"],
                         f"ECS deployment circuit breaker: rolling back to deploymentId {old_deployment}.")
        self.assertEqual((active["status"], active["rolloutState"]), ("ACTIVE", "FAILED"))
        self.assertEqual(active["rolloutStateReason"], "ECS deployment circuit breaker: tasks failed to start.")
        self.assertGreaterEqual(active["failedTasks"], 3, "threshold: at least 3")
        self.assertEqual(failed["taskDefinition"], old_definition)
        done = self.steady("breaker", desired=2)
        self.assertEqual(done["deployments"][0]["id"], old_deployment)
        self.assertEqual(done["deployments"][0]["rolloutStateReason"], f"ECS deployment {old_deployment} completed.")
        self.assertEqual({t["taskArn"] for t in self.tasks("breaker")}, old_tasks, "the old tasks kept running")
        messages = list(reversed(self.messages("breaker")))
        self.assert_sequence([(m,) for m in messages], [
            (f"(service breaker) (deployment {active['id']}) deployment failed: tasks failed to start.",),
            (f"(service breaker) rolling back to deployment {old_deployment}.",),
            (f"(service breaker) (deployment {old_deployment}) deployment completed.",),
            ("(service breaker) has reached a steady state.",)])
        stopped = self.stopped_tasks("breaker")
        self.assertEqual({t["stopCode"] for t in stopped}, {"TaskFailedToStart"})
        self.assertEqual({t["startedBy"] for t in stopped}, {active["id"]})

    def test_a_crash_looping_deployment_trips_the_circuit_breaker_too(self):
        """Tasks that run and then exit never complete a deployment: the old tasks stay, and
        the failures trip the circuit breaker."""
        self.control("/_localaws/tasks/failures", {"rules": [
            {"image": "*/crashloop:2", "failure": "exit", "exit_code": 1, "after_ms": 100}]})
        stack = self.deploy_service("crashloop", desired=1, image="example.com/crashloop:1")
        old = self.steady("crashloop", desired=1)
        old_tasks = {t["taskArn"] for t in self.tasks("crashloop")}
        self.update_through_change_set(stack, "crashloop", "example.com/crashloop:2")
        eventually(lambda: any("deployment failed: tasks failed to start." in m for m in self.messages("crashloop")))
        done = self.steady("crashloop", desired=1)
        self.assertEqual(done["taskDefinition"], old["taskDefinition"])
        self.assertEqual({t["taskArn"] for t in self.tasks("crashloop")}, old_tasks)
        stopped = self.stopped_tasks("crashloop")
        self.assertGreaterEqual(len(stopped), 3)
        self.assertEqual({(t["stopCode"], t["containers"][0]["exitCode"]) for t in stopped},
                         {("EssentialContainerExited", 1)})

    def test_without_a_circuit_breaker_ecs_keeps_trying(self):
        """A service created through the ECS API without deploymentConfiguration."""
        definition = self.ecs.register_task_definition(family="trying", containerDefinitions=[
            {"name": "trying", "image": "nginx:does-not-exist", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(cluster=self.cluster, serviceName="trying", taskDefinition=definition, desiredCount=1)
        eventually(lambda: any("is unable to consistently start tasks successfully. For more information, see the "
                               "Troubleshooting section of the Amazon ECS Developer Guide." in m
                               for m in self.messages("trying")))
        service = self.service("trying")
        self.assertEqual(service["deployments"][0]["rolloutState"], "IN_PROGRESS")
        self.assertGreaterEqual(service["deployments"][0]["failedTasks"], 3)
        self.ecs.update_service(cluster=self.cluster, service="trying", desiredCount=0)
        self.ecs.delete_service(cluster=self.cluster, service="trying")

    # -- the control API

    def test_the_default_rule_can_be_replaced(self):
        self.assertEqual(self.control_get("/_localaws/tasks/failures")["rules"][0]["image"], "*:does-not-exist")
        self.control("/_localaws/tasks/failures", {"rules": []})
        self.deploy_service("pulled", desired=1, image="nginx:does-not-exist")
        self.steady("pulled", desired=1)

    def test_the_control_api_rejects_bad_failures(self):
        for path, body in [
                ("/_localaws/stacks", {"step_ms": -1}),
                ("/_localaws/stacks", {"failures": [{"stack": "x"}]}),
                ("/_localaws/stacks", {"failures": [{"logical_id": "X", "operation": "EXPLODE"}]}),
                ("/_localaws/stacks", {"slow": True}),
                ("/_localaws/tasks/failures", {"rules": [{"image": "x", "failure": "explode"}]}),
                ("/_localaws/tasks/failures", {"rules": [{"failure": "pull"}]}),
                ("/_localaws/tasks/failures", {"image": "x"})]:
            with self.subTest(path=path, body=body):
                with self.assertRaises(urllib.error.HTTPError) as raised:
                    self.control(path, body)
                self.assertEqual(raised.exception.code, 400)
        self.assertEqual(self.control("/_localaws/stacks", {"step_ms": 250})["step_ms"], 250)
        self.assertEqual(self.control_get("/_localaws/stacks"), {"step_ms": 250, "failures": []})


if __name__ == "__main__":
    unittest.main()
