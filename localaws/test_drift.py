"""CloudFormation drift detection in localaws, as AWS answers it: DetectStackDrift,
DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts, DetectStackResourceDrift and
the DriftInformation of stacks and stack resources, on Berth's own stacks, in two accounts
and regions; and what a stack update does (and does not do) to drifted resources.

Run from the repository root:
    .venv/bin/python -m unittest discover -s localaws -p 'test_*.py'
"""

import json
import os
import sys
import time
import unittest

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_accounts import OTHER_ACCOUNT, OTHER_REGION, Place  # noqa: E402
from test_localaws import CLUSTER_STACK, REGION, LocalAwsCase, eventually, params  # noqa: E402

DEFAULT_ACCOUNT = "123456789012"
# The service stack's resources localaws compares (the task definition it does not).
COMPARED = {"LogGroup", "TargetGroup", "ListenerRule", "Service"}


class DriftTest(LocalAwsCase):
    log_name = "localaws-test-drift.log"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.logs = cls.client("logs")

    def tearDown(self):
        super().tearDown()
        self.control("/_localaws/stacks", {})

    # -- helpers

    def service_params(self, name, priority, image="nginx:1.27", desired=2, health="/health"):
        """The parameters deploy_service gave the stack (with these changes)."""
        return params(
            StackName=CLUSTER_STACK, ServiceName=name, ImageUrl=image, ContainerPort="8080", ContainerCpu="256",
            ContainerMemory="512", Path=f"/{name}*", Priority=str(priority), DesiredCount=str(desired),
            HealthCheckPath=health, TargetGroupName=f"test-{name}")

    def detect(self, stack, at=None, **kwargs):
        """DetectStackDrift, then DescribeStackDriftDetectionStatus until it is no longer in
        progress; the last status. (That a detection takes time is test_a_detection_takes_time's:
        here a loaded machine may answer the first status after the detection's 300 ms.)"""
        cfn = (at or self).cfn
        detection = cfn.detect_stack_drift(StackName=stack, **kwargs)["StackDriftDetectionId"]
        first = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        if first["DetectionStatus"] == "DETECTION_IN_PROGRESS":
            self.assertNotIn("StackDriftStatus", first)
            self.assertNotIn("DriftedStackResourceCount", first, "null until the detection is complete")
        status = eventually(lambda: (s := cfn.describe_stack_drift_detection_status(
            StackDriftDetectionId=detection))["DetectionStatus"] != "DETECTION_IN_PROGRESS" and s)
        self.assertEqual((status["StackDriftDetectionId"], status["StackId"], status["Timestamp"]),
                         (detection, first["StackId"], first["Timestamp"]))
        return status

    def drifts(self, stack, at=None, **kwargs):
        """DescribeStackResourceDrifts (every page) by logical id."""
        cfn = (at or self).cfn
        found, token = {}, None
        while True:
            page = cfn.describe_stack_resource_drifts(StackName=stack, **kwargs, **({"NextToken": token} if token
                                                                                    else {}))
            for drift in page["StackResourceDrifts"]:
                self.assertNotIn(drift["LogicalResourceId"], found)
                found[drift["LogicalResourceId"]] = drift
            token = page.get("NextToken")
            if not token:
                return found

    @staticmethod
    def statuses(drifts):
        return {lid: d["StackResourceDriftStatus"] for lid, d in drifts.items()}

    def stack_drift(self, stack, at=None):
        return (at or self).cfn.describe_stacks(StackName=stack)["Stacks"][0]["DriftInformation"]

    def resource_drift(self, stack, at=None):
        answer = (at or self).cfn.describe_stack_resources(StackName=stack)["StackResources"]
        return {r["LogicalResourceId"]: r["DriftInformation"] for r in answer}

    def physical_id(self, stack, logical_id):
        return self.cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)[
            "StackResourceDetail"]["PhysicalResourceId"]

    def assert_refused(self, call, message_part, **kwargs):
        with self.assertRaises(ClientError) as refused:
            call(**kwargs)
        error = refused.exception.response["Error"]
        self.assertEqual(error["Code"], "ValidationError")
        self.assertIn(message_part, error["Message"])
        return error["Message"]

    # -- detection

    def test_a_detection_takes_time(self):
        stack = self.deploy_service("slow", desired=1)
        self.steady("slow", desired=1)
        # Half a stack step per resource: 5 resources at 1 s are 2.5 s.
        self.control("/_localaws/stacks", {"step_ms": 1000})
        started = time.time()
        detection = self.cfn.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
        first = self.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        self.assertEqual((first["DetectionStatus"], first["DetectionStatusReason"]),
                         ("DETECTION_IN_PROGRESS", "User Initiated"))
        self.assertNotIn("StackDriftStatus", first)
        self.assertNotIn("DriftedStackResourceCount", first, "null until the detection is complete")
        self.assertEqual(self.drifts(stack), {}, "no results before the detection completes")
        self.assertEqual(self.stack_drift(stack)["StackDriftStatus"], "NOT_CHECKED")
        done = eventually(lambda: (s := self.cfn.describe_stack_drift_detection_status(
            StackDriftDetectionId=detection))["DetectionStatus"] == "DETECTION_COMPLETE" and s)
        self.assertGreaterEqual(time.time() - started, 2.5)
        self.assertEqual((done["StackDriftStatus"], done["Timestamp"]), ("IN_SYNC", first["Timestamp"]))
        self.assertEqual(len(self.drifts(stack)), 5)

    def test_a_service_stack_just_deployed_is_in_sync(self):
        stack = self.deploy_service("insync", desired=1)
        self.steady("insync", desired=1)
        self.assertEqual(self.stack_drift(stack), {"StackDriftStatus": "NOT_CHECKED"})
        self.assertEqual({d["StackResourceDriftStatus"] for d in self.resource_drift(stack).values()},
                         {"NOT_CHECKED"})
        self.assertEqual(self.drifts(stack), {}, "nothing checked yet")

        status = self.detect(stack)
        self.assertEqual((status["DetectionStatus"], status["StackDriftStatus"], status["DriftedStackResourceCount"]),
                         ("DETECTION_COMPLETE", "IN_SYNC", 0))
        self.assertNotIn("DetectionStatusReason", status)
        drifts = self.drifts(stack)
        self.assertEqual(self.statuses(drifts), dict({lid: "IN_SYNC" for lid in COMPARED},
                                                     TaskDefinition="NOT_CHECKED"))
        for logical_id in COMPARED:
            with self.subTest(logical_id):
                drift = drifts[logical_id]
                expected, actual = json.loads(drift["ExpectedProperties"]), json.loads(drift["ActualProperties"])
                self.assertEqual(actual, expected, "every property the template sets, read back as it is")
                self.assertNotIn("PropertyDifferences", drift)
                self.assertEqual(drift["PhysicalResourceId"], self.physical_id(stack, logical_id))
                self.assertEqual(drift["Timestamp"], status["Timestamp"])
                self.assertEqual(drift["StackId"], status["StackId"])
        service = json.loads(drifts["Service"]["ExpectedProperties"])
        group = self.target_group(stack)
        self.assertEqual((service["ServiceName"], service["Cluster"], service["DesiredCount"]),
                         ("insync", self.cluster, 1), "parameters, imports and types resolved")
        self.assertEqual(service["LoadBalancers"], [{"ContainerName": "insync", "ContainerPort": 8080,
                                                     "TargetGroupArn": group}])
        self.assertEqual(service["DeploymentConfiguration"], {
            "MinimumHealthyPercent": 50, "MaximumPercent": 200,
            "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}})
        self.assertTrue(service["TaskDefinition"].startswith("arn:aws:ecs:us-east-1:123456789012:task-definition/"))
        target_group = json.loads(drifts["TargetGroup"]["ExpectedProperties"])
        self.assertEqual((target_group["HealthCheckPath"], target_group["Port"], target_group["Matcher"],
                          target_group["TargetGroupAttributes"]),
                         ("/health", 80, {"HttpCode": "200-399"},
                          [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]))
        self.assertEqual(json.loads(drifts["LogGroup"]["ExpectedProperties"]),
                         {"LogGroupName": f"/berth/{CLUSTER_STACK}/insync", "RetentionInDays": 30})
        not_checked = drifts["TaskDefinition"]
        self.assertNotIn("ExpectedProperties", not_checked)
        self.assertNotIn("ActualProperties", not_checked)

        # DriftInformation of the stack and of its resources.
        information = self.stack_drift(stack)
        self.assertEqual(information["StackDriftStatus"], "IN_SYNC")
        self.assertEqual(information["LastCheckTimestamp"], status["Timestamp"])
        resources = self.resource_drift(stack)
        self.assertEqual({lid: d["StackResourceDriftStatus"] for lid, d in resources.items()},
                         self.statuses(drifts))
        self.assertEqual(resources["Service"]["LastCheckTimestamp"], status["Timestamp"])
        self.assertNotIn("LastCheckTimestamp", resources["TaskDefinition"])
        detail = self.cfn.describe_stack_resource(StackName=stack, LogicalResourceId="ListenerRule")
        self.assertEqual(detail["StackResourceDetail"]["DriftInformation"]["StackResourceDriftStatus"], "IN_SYNC")
        summaries = self.cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        self.assertEqual({s["LogicalResourceId"]: s["DriftInformation"]["StackResourceDriftStatus"]
                          for s in summaries}, self.statuses(drifts))
        listed = next(s for s in self.cfn.list_stacks()["StackSummaries"] if s["StackName"] == stack)
        self.assertEqual(listed["DriftInformation"]["StackDriftStatus"], "IN_SYNC")

    def test_changes_behind_the_stack_s_back_are_drift(self):
        stack = self.deploy_service("drifting", desired=2)
        self.steady("drifting")
        group = self.target_group(stack)
        self.ecs.update_service(cluster=self.cluster, service="drifting", desiredCount=3)
        self.elb.modify_target_group(TargetGroupArn=group, HealthCheckPath="/changed")

        status = self.detect(stack)
        self.assertEqual((status["DetectionStatus"], status["StackDriftStatus"], status["DriftedStackResourceCount"]),
                         ("DETECTION_COMPLETE", "DRIFTED", 2))
        drifts = self.drifts(stack)
        self.assertEqual(self.statuses(drifts), {"Service": "MODIFIED", "TargetGroup": "MODIFIED",
                                                 "ListenerRule": "IN_SYNC", "LogGroup": "IN_SYNC",
                                                 "TaskDefinition": "NOT_CHECKED"})
        self.assertEqual(drifts["Service"]["PropertyDifferences"], [
            {"PropertyPath": "/DesiredCount", "ExpectedValue": "2", "ActualValue": "3", "DifferenceType": "NOT_EQUAL"}])
        self.assertEqual((json.loads(drifts["Service"]["ExpectedProperties"])["DesiredCount"],
                          json.loads(drifts["Service"]["ActualProperties"])["DesiredCount"]), (2, 3))
        self.assertEqual(drifts["TargetGroup"]["PropertyDifferences"], [
            {"PropertyPath": "/HealthCheckPath", "ExpectedValue": "/health", "ActualValue": "/changed",
             "DifferenceType": "NOT_EQUAL"}])
        self.assertEqual(json.loads(drifts["TargetGroup"]["ActualProperties"])["HealthCheckPath"], "/changed")
        self.assertEqual(self.stack_drift(stack)["StackDriftStatus"], "DRIFTED")
        detail = self.cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Service")["StackResourceDetail"]
        self.assertEqual(detail["DriftInformation"]["StackResourceDriftStatus"], "MODIFIED")

        # Filters and pages.
        for filters, expected in [(["MODIFIED"], {"Service", "TargetGroup"}),
                                  (["IN_SYNC"], {"ListenerRule", "LogGroup"}),
                                  (["MODIFIED", "DELETED", "NOT_CHECKED"], {"Service", "TargetGroup", "TaskDefinition"}),
                                  (["DELETED"], set())]:
            with self.subTest(filters=filters):
                self.assertEqual(set(self.drifts(stack, StackResourceDriftStatusFilters=filters)), expected)
        first = self.cfn.describe_stack_resource_drifts(StackName=stack, MaxResults=2)
        self.assertEqual(len(first["StackResourceDrifts"]), 2)
        self.assertIn("NextToken", first)
        self.assertEqual(self.drifts(stack, MaxResults=2), drifts, "the pages together are the whole answer")
        self.assertEqual(set(self.drifts(stack, MaxResults=1, StackResourceDriftStatusFilters=["MODIFIED"])),
                         {"Service", "TargetGroup"})
        with self.assertRaises(ClientError):
            self.cfn.describe_stack_resource_drifts(StackName=stack, NextToken="not-a-token")

        # One resource, at once.
        answer = self.cfn.detect_stack_resource_drift(StackName=stack, LogicalResourceId="Service")["StackResourceDrift"]
        self.assertEqual((answer["StackResourceDriftStatus"], answer["PropertyDifferences"]),
                         ("MODIFIED", drifts["Service"]["PropertyDifferences"]))
        self.ecs.update_service(cluster=self.cluster, service="drifting", desiredCount=2)  # put back by hand
        answer = self.cfn.detect_stack_resource_drift(StackName=stack, LogicalResourceId="Service")["StackResourceDrift"]
        self.assertEqual(answer["StackResourceDriftStatus"], "IN_SYNC")
        self.assertEqual(self.drifts(stack)["Service"]["StackResourceDriftStatus"], "IN_SYNC", "the latest result")
        self.assertGreater(self.stack_drift(stack)["LastCheckTimestamp"], status["Timestamp"])
        self.assertEqual(self.stack_drift(stack)["StackDriftStatus"], "DRIFTED", "set by stack detections only")

    def test_lists_are_compared_as_aws_compares_them_and_removed_properties_are_drift(self):
        stack = self.deploy_service("lists", desired=1)
        self.steady("lists", desired=1)
        rule = self.physical_id(stack, "ListenerRule")
        log_group = self.physical_id(stack, "LogGroup")
        # Condition values are a set: a new value is an ADD wherever it is, the old one still matches.
        self.elb.modify_rule(RuleArn=rule, Conditions=[{"Field": "path-pattern",
                                                       "PathPatternConfig": {"Values": ["/extra*", "/lists*"]}}])
        self.logs.delete_retention_policy(logGroupName=log_group)

        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 2))
        drifts = self.drifts(stack)
        self.assertEqual(drifts["ListenerRule"]["PropertyDifferences"], [
            {"PropertyPath": "/Conditions/0/Values/0", "ExpectedValue": "null", "ActualValue": "/extra*",
             "DifferenceType": "ADD"}])
        self.assertEqual(json.loads(drifts["ListenerRule"]["ActualProperties"])["Conditions"],
                         [{"Field": "path-pattern", "Values": ["/extra*", "/lists*"]}])
        self.assertEqual(drifts["LogGroup"]["PropertyDifferences"], [
            {"PropertyPath": "/RetentionInDays", "ExpectedValue": "30", "ActualValue": "null",
             "DifferenceType": "REMOVE"}])
        self.assertNotIn("RetentionInDays", json.loads(drifts["LogGroup"]["ActualProperties"]))

        # A changed value is NOT_EQUAL; put back by hand, everything is in sync again.
        self.elb.modify_rule(RuleArn=rule, Conditions=[{"Field": "path-pattern", "Values": ["/other*"]}])
        self.logs.put_retention_policy(logGroupName=log_group, retentionInDays=30)
        self.assertEqual(self.detect(stack)["StackDriftStatus"], "DRIFTED")
        drifts = self.drifts(stack)
        self.assertEqual(drifts["ListenerRule"]["PropertyDifferences"], [
            {"PropertyPath": "/Conditions/0/Values/0", "ExpectedValue": "/lists*", "ActualValue": "/other*",
             "DifferenceType": "NOT_EQUAL"}])
        self.assertEqual(drifts["LogGroup"]["StackResourceDriftStatus"], "IN_SYNC")
        self.elb.modify_rule(RuleArn=rule, Conditions=[{"Field": "path-pattern", "Values": ["/lists*"]}])
        self.assertEqual(self.detect(stack)["StackDriftStatus"], "IN_SYNC")

    def test_a_scalable_target_s_capacity_is_compared(self):
        type(self).priority += 1
        stack = "berth-test-scaling"
        self.cfn.create_stack(StackName=stack, TemplateBody=self.template("service.yaml"), Parameters=params(
            StackName=CLUSTER_STACK, ServiceName="scaling", ImageUrl="nginx:1.27", ContainerPort="8080",
            Path="/scaling*", Priority=str(self.priority), DesiredCount="1", HealthCheckPath="/health",
            TargetGroupName="test-scaling", ScalingMin="1", ScalingMax="4"))
        self.steady("scaling", desired=1)
        scaling = self.client("application-autoscaling")
        target = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        target = next(t for t in target if t["ResourceId"].endswith("/scaling"))
        scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=target["ResourceId"],
                                         ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=8)
        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 1))
        drifts = self.drifts(stack)
        self.assertEqual(self.statuses(drifts)["ScalingPolicy"], "NOT_CHECKED")
        self.assertEqual(drifts["ScalableTarget"]["PropertyDifferences"], [
            {"PropertyPath": "/MaxCapacity", "ExpectedValue": "4", "ActualValue": "8", "DifferenceType": "NOT_EQUAL"}])
        self.assertEqual(json.loads(drifts["ScalableTarget"]["ExpectedProperties"])["ResourceId"],
                         target["ResourceId"], "Fn::Sub with an import and a Fn::GetAtt, resolved")

    def test_a_resource_deleted_behind_the_stack_s_back_is_deleted(self):
        stack = self.deploy_service("gone", desired=1)
        self.steady("gone", desired=1)
        log_group = self.physical_id(stack, "LogGroup")
        self.logs.delete_log_group(logGroupName=log_group)

        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 1))
        drift = self.drifts(stack)["LogGroup"]
        self.assertEqual((drift["StackResourceDriftStatus"], drift["PhysicalResourceId"]), ("DELETED", log_group))
        for absent in ("ExpectedProperties", "ActualProperties", "PropertyDifferences"):
            self.assertNotIn(absent, drift)
        self.assertEqual(self.resource_drift(stack)["LogGroup"]["StackResourceDriftStatus"], "DELETED")
        self.assertEqual(set(self.drifts(stack, StackResourceDriftStatusFilters=["DELETED"])), {"LogGroup"})
        answer = self.cfn.detect_stack_resource_drift(StackName=stack, LogicalResourceId="LogGroup")
        self.assertEqual(answer["StackResourceDrift"]["StackResourceDriftStatus"], "DELETED")

    def test_detection_is_refused_where_aws_refuses_it(self):
        stack = self.deploy_service("refused", desired=1)
        priority = self.priority
        self.steady("refused", desired=1)
        self.assert_refused(self.cfn.detect_stack_drift, "does not exist", StackName="berth-test-nothing")
        self.assert_refused(self.cfn.describe_stack_resource_drifts, "does not exist", StackName="berth-test-nothing")
        self.assert_refused(self.cfn.describe_stack_drift_detection_status, "does not exist",
                            StackDriftDetectionId="00000000-0000-0000-0000-000000000000")
        self.assert_refused(self.cfn.detect_stack_drift, "Nothing", StackName=stack, LogicalResourceIds=["Nothing"])
        self.assert_refused(self.cfn.detect_stack_resource_drift, "Nothing", StackName=stack,
                            LogicalResourceId="Nothing")

        # A stack busy with an update is not detected (AWS: only *_COMPLETE and UPDATE_ROLLBACK_FAILED).
        self.control("/_localaws/stacks", {"step_ms": 1000})
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True,
                              Parameters=self.service_params("refused", priority, image="nginx:1.28", desired=1))
        self.assertEqual(self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"], "UPDATE_IN_PROGRESS")
        message = self.assert_refused(self.cfn.detect_stack_drift, "UPDATE_IN_PROGRESS", StackName=stack)
        self.assertIn("CREATE_COMPLETE", message)
        self.assert_refused(self.cfn.detect_stack_resource_drift, "UPDATE_IN_PROGRESS", StackName=stack,
                            LogicalResourceId="Service")
        eventually(lambda: self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE",
                   timeout=15)

        # One detection of a stack at a time (this one takes 4 s); LogicalResourceIds checks
        # only those resources.
        self.control("/_localaws/stacks", {"step_ms": 4000})
        detection = self.cfn.detect_stack_drift(StackName=stack, LogicalResourceIds=["Service", "LogGroup"])
        self.assert_refused(self.cfn.detect_stack_drift, "already in progress", StackName=stack)
        eventually(lambda: self.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection[
            "StackDriftDetectionId"])["DetectionStatus"] == "DETECTION_COMPLETE")
        self.assertEqual(self.statuses(self.drifts(stack)), {"Service": "IN_SYNC", "LogGroup": "IN_SYNC"})
        self.assertEqual(self.resource_drift(stack)["TargetGroup"], {"StackResourceDriftStatus": "NOT_CHECKED"})

    # -- what stack updates do to drift

    def test_an_unchanged_update_is_refused_and_only_a_resource_s_own_update_sets_it_back(self):
        name = "reconcile"
        stack = self.deploy_service(name, desired=2)
        priority = self.priority
        self.steady(name)
        group = self.target_group(stack)
        self.ecs.update_service(cluster=self.cluster, service=name, desiredCount=1)
        self.elb.modify_target_group(TargetGroupArn=group, HealthCheckPath="/changed", HealthCheckIntervalSeconds=30)
        self.assertEqual(self.detect(stack)["DriftedStackResourceCount"], 2)

        # The same template and parameters again: CloudFormation has nothing to update (it
        # compares with the template it applied, not with the resources), and the drift stays.
        for template in ({"TemplateBody": self.template("service.yaml")}, {"UsePreviousTemplate": True}):
            with self.subTest(template=list(template)):
                self.assert_refused(self.cfn.update_stack, "No updates are to be performed.", StackName=stack,
                                    Parameters=self.service_params(name, priority), **template)
        # As a change set (Berth's way to update), the same is a change set without changes.
        self.cfn.create_change_set(StackName=stack, ChangeSetName="again", ChangeSetType="UPDATE",
                                   TemplateBody=self.template("service.yaml"), Capabilities=["CAPABILITY_IAM"],
                                   Parameters=self.service_params(name, priority))
        change_set = self.cfn.describe_change_set(StackName=stack, ChangeSetName="again")
        self.assertEqual((change_set["Status"], change_set["ExecutionStatus"]), ("FAILED", "UNAVAILABLE"))
        self.assertIn("didn't contain changes", change_set["StatusReason"])
        self.cfn.delete_change_set(StackName=stack, ChangeSetName="again")
        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 2))

        # A new image (through a change set, as Berth deploys) updates the task definition, and
        # so the service that refers to it: the service is updated to the whole template, its
        # desired count too. The target group is not part of that update and stays drifted.
        old_definition = self.service(name)["taskDefinition"]
        self.cfn.create_change_set(StackName=stack, ChangeSetName="new-image", ChangeSetType="UPDATE",
                                   TemplateBody=self.template("service.yaml"), Capabilities=["CAPABILITY_IAM"],
                                   Parameters=self.service_params(name, priority, image="nginx:1.28"))
        eventually(lambda: self.cfn.describe_change_set(StackName=stack, ChangeSetName="new-image")["Status"]
                   == "CREATE_COMPLETE")
        self.cfn.execute_change_set(StackName=stack, ChangeSetName="new-image")
        self.assertEqual(self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE")
        service = self.service(name)
        self.assertEqual(service["desiredCount"], 2)
        self.assertNotEqual(service["taskDefinition"], old_definition, "the stack update moved the service")
        self.steady(name)
        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 1))
        drifts = self.drifts(stack)
        self.assertEqual(drifts["Service"]["StackResourceDriftStatus"], "IN_SYNC")
        self.assertEqual({d["PropertyPath"] for d in drifts["TargetGroup"]["PropertyDifferences"]},
                         {"/HealthCheckPath", "/HealthCheckIntervalSeconds"})

        # An update of the target group (a new health check path) sets its health check to the
        # template's, the interval that the update did not change too.
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True,
                              Parameters=self.service_params(name, priority, image="nginx:1.28", health="/ready"))
        described = self.elb.describe_target_groups(TargetGroupArns=[group])["TargetGroups"][0]
        self.assertEqual((described["HealthCheckPath"], described["HealthCheckIntervalSeconds"]), ("/ready", 15))
        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("IN_SYNC", 0))
        self.assertEqual(json.loads(self.drifts(stack)["TargetGroup"]["ExpectedProperties"])["HealthCheckPath"],
                         "/ready", "the expected properties are the current template's")

    def test_a_drift_aware_change_set_sets_drifted_resources_back_to_the_template(self):
        name = "revert"
        stack = self.deploy_service(name, desired=2)
        priority = self.priority
        self.steady(name)
        group = self.target_group(stack)

        def change_set(change_set_name, **kwargs):
            self.cfn.create_change_set(StackName=stack, ChangeSetName=change_set_name, ChangeSetType="UPDATE",
                                       TemplateBody=self.template("service.yaml"), Capabilities=["CAPABILITY_IAM"],
                                       Parameters=self.service_params(name, priority), **kwargs)
            return eventually(lambda: (c := self.cfn.describe_change_set(StackName=stack, ChangeSetName=change_set_name))
                              ["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS") and c)

        # Nothing drifted: a drift-aware change set of the same has nothing to do either.
        unchanged = change_set("nothing", DeploymentMode="REVERT_DRIFT")
        self.assertEqual((unchanged["Status"], unchanged["DeploymentMode"]), ("FAILED", "REVERT_DRIFT"))
        self.assertIn("didn't contain changes", unchanged["StatusReason"])
        self.cfn.delete_change_set(StackName=stack, ChangeSetName="nothing")

        self.ecs.update_service(cluster=self.cluster, service=name, desiredCount=1)
        self.elb.modify_target_group(TargetGroupArn=group, HealthCheckPath="/changed")
        plain = change_set("plain")
        self.assertEqual(plain["Status"], "FAILED", "an ordinary change set compares templates only")
        self.assertNotIn("DeploymentMode", plain)
        self.cfn.delete_change_set(StackName=stack, ChangeSetName="plain")

        aware = change_set("aware", DeploymentMode="REVERT_DRIFT")
        self.assertEqual((aware["Status"], aware["ExecutionStatus"], aware["DeploymentMode"]),
                         ("CREATE_COMPLETE", "AVAILABLE", "REVERT_DRIFT"))
        changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in aware["Changes"]}
        self.assertEqual(set(changes), {"Service", "TargetGroup"}, "only the drifted resources")
        service = changes["Service"]
        self.assertEqual((service["Action"], service["Replacement"], service["ResourceDriftStatus"]),
                         ("Modify", "False", "MODIFIED"))
        self.assertEqual(service["Details"], [{
            "Target": {"Attribute": "Properties", "Name": "DesiredCount", "Path": "/Properties/DesiredCount",
                       "RequiresRecreation": "Never", "AttributeChangeType": "Modify", "BeforeValue": "1",
                       "AfterValue": "2", "Drift": {"PreviousValue": "2", "ActualValue": "1"}},
            "Evaluation": "Static", "ChangeSource": "DirectModification"}])
        target = changes["TargetGroup"]["Details"][0]["Target"]
        self.assertEqual((target["Name"], target["BeforeValue"], target["AfterValue"]),
                         ("HealthCheckPath", "/changed", "/health"))

        # Through a timeline (as Berth's local AWS runs), so that the update has resource events.
        self.control("/_localaws/stacks", {"step_ms": 50})
        self.cfn.execute_change_set(StackName=stack, ChangeSetName="aware")
        eventually(lambda: self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE")
        self.assertEqual(self.service(name)["desiredCount"], 2)
        described = self.elb.describe_target_groups(TargetGroupArns=[group])["TargetGroups"][0]
        self.assertEqual(described["HealthCheckPath"], "/health")
        events = self.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        updated = {e["LogicalResourceId"] for e in events if e.get("ResourceStatus") == "UPDATE_COMPLETE"}
        self.assertTrue({"Service", "TargetGroup"} <= updated, updated)
        status = self.detect(stack)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("IN_SYNC", 0))

        with self.assertRaises(ClientError) as refused:
            change_set("unknown-mode", DeploymentMode="SOMETHING_ELSE")
        self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationError")

    # -- the cluster stack, other accounts and regions

    def test_the_cluster_stack_compares_its_listener_and_auto_scaling_group(self):
        status = self.detect(CLUSTER_STACK)
        self.assertEqual((status["DetectionStatus"], status["StackDriftStatus"], status["DriftedStackResourceCount"]),
                         ("DETECTION_COMPLETE", "IN_SYNC", 0))
        drifts = self.drifts(CLUSTER_STACK)
        resources = self.cfn.describe_stack_resources(StackName=CLUSTER_STACK)["StackResources"]
        self.assertEqual(set(drifts), {r["LogicalResourceId"] for r in resources})
        compared = {"PublicLoadBalancerListener", "ECSAutoScalingGroup"}
        self.assertEqual({lid for lid, s in self.statuses(drifts).items() if s != "NOT_CHECKED"}, compared)
        self.assertEqual({self.statuses(drifts)[lid] for lid in compared}, {"IN_SYNC"})
        group = json.loads(drifts["ECSAutoScalingGroup"]["ActualProperties"])
        self.assertEqual((group["MinSize"], group["MaxSize"], group["DesiredCapacity"]), ("1", "4", "2"),
                         "sizes are strings in the resource schema, also from a Number parameter")
        self.assertEqual(json.loads(drifts["PublicLoadBalancerListener"]["ActualProperties"])["DefaultActions"], [
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain",
                                                               "MessageBody": "Not Found"}}])

        autoscaling = self.client("autoscaling")
        name = self.physical_id(CLUSTER_STACK, "ECSAutoScalingGroup")
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=6)
        try:
            status = self.detect(CLUSTER_STACK)
            self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 1))
            self.assertEqual(self.drifts(CLUSTER_STACK)["ECSAutoScalingGroup"]["PropertyDifferences"], [
                {"PropertyPath": "/MaxSize", "ExpectedValue": "4", "ActualValue": "6", "DifferenceType": "NOT_EQUAL"}])
        finally:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=4)
        self.assertEqual(self.detect(CLUSTER_STACK)["StackDriftStatus"], "IN_SYNC")
        self.assertEqual(self.stack_drift(CLUSTER_STACK)["StackDriftStatus"], "IN_SYNC")
        # A detection that compared nothing (only resources of types localaws does not read)
        # does not claim IN_SYNC.
        only = self.detect(CLUSTER_STACK, LogicalResourceIds=["VPC", "HostSecurityGroup"])
        self.assertEqual((only["StackDriftStatus"], only["DriftedStackResourceCount"]), ("NOT_CHECKED", 0))
        self.assertEqual(self.statuses(self.drifts(CLUSTER_STACK, StackResourceDriftStatusFilters=["IN_SYNC"])),
                         {"PublicLoadBalancerListener": "IN_SYNC", "ECSAutoScalingGroup": "IN_SYNC"},
                         "each resource's latest result")

    def test_drift_in_another_account_and_region_is_kept_there(self):
        admin = Place(self.url, REGION, account_header=OTHER_ACCOUNT).client("iam")
        admin.create_role(RoleName="berth-drift", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                           "Action": "sts:AssumeRole"}]}))
        credentials = self.client("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/berth-drift",
                                                     RoleSessionName="drift")["Credentials"]
        other = Place(self.url, OTHER_REGION, credentials)
        other.cfn.create_stack(StackName=CLUSTER_STACK, TemplateBody=self.template("cluster.yaml"),
                               Parameters=params(DesiredCapacity="2", MaxSize="4", InstanceType="t3.medium"),
                               Capabilities=["CAPABILITY_IAM"])
        other.cluster = self.export("ClusterName", at=other)
        there = self.deploy_service("abroad", desired=1, at=other)
        here = self.deploy_service("abroad", desired=1)
        self.steady("abroad", desired=1, at=other)
        self.steady("abroad", desired=1)
        other.ecs.update_service(cluster=other.cluster, service="abroad", desiredCount=2)

        status = self.detect(there, at=other)
        self.assertEqual((status["StackDriftStatus"], status["DriftedStackResourceCount"]), ("DRIFTED", 1))
        self.assertEqual(status["StackId"].split(":")[3:5], [OTHER_REGION, OTHER_ACCOUNT])
        drifts = self.drifts(there, at=other)
        self.assertEqual(drifts["Service"]["PropertyDifferences"][0]["PropertyPath"], "/DesiredCount")
        self.assertTrue(drifts["Service"]["PhysicalResourceId"].startswith(
            f"arn:aws:ecs:{OTHER_REGION}:{OTHER_ACCOUNT}:service/"))
        self.assertTrue(json.loads(drifts["TargetGroup"]["ExpectedProperties"])["VpcId"].startswith("vpc-"))
        # The same stack name in the default account and us-east-1 knows nothing of it.
        self.assertEqual(self.stack_drift(here), {"StackDriftStatus": "NOT_CHECKED"})
        self.assertEqual(self.drifts(here), {})
        self.assert_refused(self.cfn.describe_stack_drift_detection_status, "does not exist",
                            StackDriftDetectionId=status["StackDriftDetectionId"])
        mine = self.detect(here)
        self.assertEqual(mine["StackDriftStatus"], "IN_SYNC")
        self.assertEqual(self.stack_drift(there, at=other)["StackDriftStatus"], "DRIFTED")
        self.assertEqual(self.stack_drift(here)["StackDriftStatus"], "IN_SYNC")


if __name__ == "__main__":
    unittest.main()
