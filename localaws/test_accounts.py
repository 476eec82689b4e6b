"""localaws in other accounts and regions: STS AssumeRole with an external id, and stacks,
services, tasks and targets of two accounts in two regions side by side, never mixed.

Run from the repository root:
    .venv/bin/python -m unittest discover -s localaws -p 'test_*.py'
"""

import datetime
import json
import os
import sys
import unittest

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_localaws import CLUSTER_STACK, REGION, LocalAwsCase, eventually, params  # noqa: E402

DEFAULT_ACCOUNT = "123456789012"  # moto's
OTHER_ACCOUNT = "111111111111"
OTHER_REGION = "eu-west-1"
EXTERNAL_ID = "berth-7c1f0e"
ROLE_NAME = "berth-deployer"
ROLE_ARN = f"arn:aws:iam::{OTHER_ACCOUNT}:role/{ROLE_NAME}"


class Place:
    """Clients of one account and region (what LocalAwsCase's helpers take as `at`)."""

    def __init__(self, url, region, credentials=None, account_header=None):
        self.region = region
        self.session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"] if credentials else "local",
            aws_secret_access_key=credentials["SecretAccessKey"] if credentials else "local",
            aws_session_token=credentials["SessionToken"] if credentials else None)
        self.url, self.account_header = url, account_header
        self.cfn, self.ecs, self.elb = self.client("cloudformation"), self.client("ecs"), self.client("elbv2")
        self.cluster = None

    def client(self, service):
        client = self.session.client(service, region_name=self.region, endpoint_url=self.url)
        if self.account_header:  # moto's own way into an account (the test's setup only)
            client.meta.events.register(
                "before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id",
                                                                                self.account_header))
        return client


class AccountsTest(LocalAwsCase):
    log_name = "localaws-test-accounts.log"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()  # Berth's cluster stack in the default account, us-east-1
        # The other account's administrator creates the role Berth assumes. Getting into an
        # account that no credentials lead to yet takes moto's header (AWS: that account's
        # own credentials).
        admin = Place(cls.url, REGION, account_header=OTHER_ACCOUNT).client("iam")
        admin.create_role(RoleName=ROLE_NAME, MaxSessionDuration=3600, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                           "Action": "sts:AssumeRole",
                           "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]}))
        cls.sts = cls.client("sts")
        credentials = cls.sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="berth-staging",
                                          ExternalId=EXTERNAL_ID)["Credentials"]
        # What Berth does for an environment with a role: everything through the assumed role,
        # in the environment's region.
        cls.other = Place(cls.url, OTHER_REGION, credentials)
        cls.other.cfn.create_stack(
            StackName=CLUSTER_STACK, TemplateBody=cls.template("cluster.yaml"),
            Parameters=params(DesiredCapacity="2", MaxSize="4", InstanceType="t3.medium"),
            Capabilities=["CAPABILITY_IAM"])
        cls.other.cluster = cls.export("ClusterName", at=cls.other)
        cls.credentials = credentials

    def tearDown(self):
        super().tearDown()
        self.control("/_localaws/stacks", {})

    # -- STS

    def test_the_role_is_assumed_only_with_its_external_id(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        answer = self.sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="check", ExternalId=EXTERNAL_ID,
                                      DurationSeconds=900)
        credentials = answer["Credentials"]
        self.assertEqual(answer["AssumedRoleUser"]["Arn"],
                         f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{ROLE_NAME}/check")
        expires_in = (credentials["Expiration"] - before).total_seconds()
        self.assertTrue(895 <= expires_in <= 905, expires_in)
        identity = Place(self.url, OTHER_REGION, credentials).client("sts").get_caller_identity()
        self.assertEqual(identity["Account"], OTHER_ACCOUNT)

        for what, extra in [("a wrong external id", {"ExternalId": "someone-else"}), ("no external id", {})]:
            with self.subTest(what):
                with self.assertRaises(ClientError) as refused:
                    self.sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="check", **extra)
                error = refused.exception.response
                self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 403)
                self.assertEqual(error["Error"]["Code"], "AccessDenied")
                self.assertRegex(error["Error"]["Message"], r"^User: arn:aws:\w+::123456789012:\S+ is not authorized "
                                 r"to perform: sts:AssumeRole on resource: " + ROLE_ARN + "$")
        with self.assertRaises(ClientError) as missing:
            self.sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/nobody", RoleSessionName="check",
                                 ExternalId=EXTERNAL_ID)
        self.assertEqual(missing.exception.response["Error"]["Code"], "AccessDenied")
        with self.assertRaises(ClientError) as too_long:
            self.sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="check", ExternalId=EXTERNAL_ID,
                                 DurationSeconds=7200)
        self.assertEqual(too_long.exception.response["Error"]["Code"], "ValidationError")

    def test_the_trust_policy_names_who_may_assume_the_role(self):
        admin = Place(self.url, REGION, account_header=OTHER_ACCOUNT).client("iam")

        def role(name, principal, **statement):
            admin.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [dict({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"},
                                   **statement)]}))
            return f"arn:aws:iam::{OTHER_ACCOUNT}:role/{name}"

        def code(sts, arn):
            try:
                sts.assume_role(RoleArn=arn, RoleSessionName="check")
                return "ok"
            except ClientError as error:
                return error.response["Error"]["Code"]

        chained = Place(self.url, OTHER_REGION, self.credentials).client("sts")  # the berth-deployer session
        cases = [
            ("another account", role("trusts-999", {"AWS": "arn:aws:iam::999999999999:root"}), "AccessDenied", None),
            ("a service", role("trusts-ecs", {"Service": "ecs-tasks.amazonaws.com"}), "AccessDenied", None),
            ("the account id", role("trusts-account", {"AWS": DEFAULT_ACCOUNT}), "ok", None),
            ("a role's sessions", role("trusts-deployer", {"AWS": ROLE_ARN}), "AccessDenied", "ok"),
            ("a pattern on the external id", role("trusts-like", {"AWS": "*"}, Condition={
                "StringLike": {"sts:ExternalId": "berth-*"}}), "AccessDenied", None),
        ]
        for what, arn, from_default, from_session in cases:
            with self.subTest(what):
                self.assertEqual(code(self.sts, arn), from_default)
                if from_session:
                    self.assertEqual(code(chained, arn), from_session)
        matching = self.sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/trusts-like",
                                        RoleSessionName="check", ExternalId="berth-1")
        self.assertIn("AccessKeyId", matching["Credentials"])

    # -- the scheduler in both accounts and regions

    def test_services_of_two_accounts_and_regions_run_side_by_side_and_never_mix(self):
        here = self.deploy_service("orders")
        there = self.deploy_service("orders", desired=3, at=self.other)
        mine, theirs = self.steady("orders"), self.steady("orders", desired=3, at=self.other)
        self.assertTrue(mine["serviceArn"].startswith(f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT}:service/"))
        self.assertTrue(theirs["serviceArn"].startswith(f"arn:aws:ecs:{OTHER_REGION}:{OTHER_ACCOUNT}:service/"))
        self.assertEqual(theirs["events"][0]["message"], "(service orders) has reached a steady state.")

        for at, service, stack, count in [(None, mine, here, 2), (self.other, theirs, there, 3)]:
            with self.subTest(service=service["serviceArn"]):
                tasks = self.tasks("orders", at=at)
                self.assertEqual(len(tasks), count)
                self.assertEqual({(t["lastStatus"], t["healthStatus"]) for t in tasks}, {("RUNNING", "HEALTHY")})
                self.assertEqual({t["startedBy"] for t in tasks}, {service["deployments"][0]["id"]})
                self.assertEqual({tuple(t["taskArn"].split(":")[3:5]) for t in tasks},
                                 {tuple(service["serviceArn"].split(":")[3:5])}, "the service's region and account")
                group = self.target_group(stack, at=at)
                self.assertEqual(service["loadBalancers"][0]["targetGroupArn"], group)
                health = eventually(lambda: len(self.targets(group, at=at)) == count and self.targets(group, at=at))
                self.assertEqual({t["TargetHealth"]["State"] for t in health}, {"healthy"})
                ports = {t["containers"][0]["networkBindings"][0]["hostPort"] for t in tasks}
                self.assertEqual({t["Target"]["Port"] for t in health}, ports)
                registered = [e["message"] for e in service["events"] if "registered" in e["message"]]
                self.assertTrue(registered and all(group in m for m in registered), registered)

        groups = self.other.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        self.assertEqual({i["AvailabilityZone"][:-1] for g in groups for i in g["Instances"]}, {OTHER_REGION},
                         "the cluster's instances are in the stack's region")
        # Each account and region sees only its own (other tests' services are there too).
        for place, own, other in [(self, mine, theirs), (self.other, theirs, mine)]:
            arns = place.ecs.list_services(cluster=place.cluster)["serviceArns"]
            self.assertIn(own["serviceArn"], arns)
            self.assertNotIn(other["serviceArn"], arns)
            prefix = own["serviceArn"].split("service/")[0]
            self.assertEqual([a for a in arns if not a.startswith(prefix)], [])
        elsewhere = [Place(self.url, REGION, self.credentials), Place(self.url, OTHER_REGION)]
        for place in elsewhere:  # the other account in us-east-1, the default one in eu-west-1
            with self.subTest(region=place.region):
                self.assertEqual(place.ecs.list_clusters()["clusterArns"], [])
                self.assertEqual(place.cfn.describe_stacks()["Stacks"], [])
        mine_events = self.cfn.describe_stack_events(StackName=here)["StackEvents"]
        their_events = self.other.cfn.describe_stack_events(StackName=there)["StackEvents"]
        self.assertEqual({e["StackId"].split(":")[3:5] == [REGION, DEFAULT_ACCOUNT] for e in mine_events}, {True})
        self.assertEqual({e["StackId"].split(":")[3:5] == [OTHER_REGION, OTHER_ACCOUNT] for e in their_events},
                         {True})
        self.assertEqual(len(self.ecs.describe_services(cluster=self.cluster, services=["orders"])["services"]), 1)
        self.assertNotIn(theirs["serviceArn"], {t["taskArn"] for t in self.tasks("orders")})

        # The control API reaches the other account's tasks (by ARN, or with account and region).
        victim = self.tasks("orders", at=self.other)[0]["taskArn"]
        self.control("/_localaws/tasks/stop", {"cluster": self.other.cluster, "task": victim,
                                               "reason": "Essential container in task exited", "exit_code": 137})
        self.steady("orders", desired=3, at=self.other)
        stopped = self.tasks("orders", "STOPPED", at=self.other)
        self.assertEqual([(t["taskArn"], t["stopCode"]) for t in stopped], [(victim, "EssentialContainerExited")])
        self.assertEqual(self.tasks("orders", "STOPPED"), [], "nothing stopped in the default account")
        survivor = self.tasks("orders", at=self.other)[0]["taskArn"]
        self.control("/_localaws/tasks/health", {"account": OTHER_ACCOUNT, "region": OTHER_REGION,
                                                 "cluster": self.other.cluster, "task": survivor.rsplit("/", 1)[-1],
                                                 "health": "UNHEALTHY"})
        described = self.other.ecs.describe_tasks(cluster=self.other.cluster, tasks=[survivor])["tasks"][0]
        self.assertEqual(described["healthStatus"], "UNHEALTHY")
        self.assertEqual({t["healthStatus"] for t in self.tasks("orders")}, {"HEALTHY"})

    def test_a_timed_stack_update_in_the_other_account_rolls_its_tasks(self):
        stack = self.deploy_service("payments", desired=1, at=self.other)
        old = self.steady("payments", desired=1, at=self.other)
        self.control("/_localaws/stacks", {"step_ms": 100})
        self.other.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=params(
            StackName=CLUSTER_STACK, ServiceName="payments", ImageUrl="nginx:1.28", ContainerPort="8080",
            ContainerCpu="256", ContainerMemory="512", Path="/payments*", Priority=str(self.priority),
            DesiredCount="1", HealthCheckPath="/health", TargetGroupName="test-payments"))
        status = self.other.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        self.assertEqual(status, "UPDATE_IN_PROGRESS")
        eventually(lambda: self.other.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
                   == "UPDATE_COMPLETE")
        events = self.other.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        self.assertIn(("TaskDefinition", "UPDATE_COMPLETE"),
                      {(e["LogicalResourceId"], e["ResourceStatus"]) for e in events})
        new = eventually(lambda: (s := self.steady("payments", desired=1, at=self.other))["taskDefinition"]
                         != old["taskDefinition"] and s)
        self.assertTrue(new["taskDefinition"].startswith(f"arn:aws:ecs:{OTHER_REGION}:{OTHER_ACCOUNT}:"))
        self.assertEqual({t["taskDefinitionArn"] for t in self.tasks("payments", at=self.other)},
                         {new["taskDefinition"]})
        with self.assertRaises(ClientError):  # nothing of it in the default account
            self.cfn.describe_stacks(StackName=stack)

    def test_task_failures_and_the_circuit_breaker_in_the_other_account(self):
        self.deploy_service("broken", desired=1, image="nginx:does-not-exist", at=self.other)

        def failed():
            deployment = self.service("broken", at=self.other)["deployments"][0]
            return deployment if deployment["rolloutState"] == "FAILED" else None
        deployment = eventually(failed, timeout=20)
        self.assertGreaterEqual(deployment["failedTasks"], 3)
        stopped = self.tasks("broken", "STOPPED", at=self.other)
        self.assertTrue(stopped)
        self.assertEqual({t["stopCode"] for t in stopped}, {"TaskFailedToStart"})


if __name__ == "__main__":
    unittest.main()
