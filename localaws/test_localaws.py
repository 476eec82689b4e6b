"""Tests of localaws itself: boto3 against a started localaws (which starts its own moto).

Run from the repository root:
    .venv/bin/python -m unittest discover -s localaws -p 'test_*.py'
"""

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import botocore.config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REGION = "us-east-1"
CLUSTER_STACK = "berth-test-cluster"
# aws-runtime 1.10.2 (the Rust SDK's retry classifier, THROTTLING_ERRORS): the error codes the
# Rust SDK retries as throttling. localaws's throttling answers must use one of them.
RUST_SDK_THROTTLING_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check, timeout=10.0, every=0.1):
    """Calls check() until it returns a true value (returned) or the time is up (last error)."""
    deadline = time.time() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
            error = AssertionError(f"still {value!r}")
        except (AssertionError, ClientError, KeyError, IndexError, OSError) as e:
            error = e
        if time.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {error}")
        time.sleep(every)


class LocalAwsCase(unittest.TestCase):
    """A started localaws with Berth's cluster stack, and helpers (no tests of its own, so
    other test modules can build on it)."""
    process = None
    log_name = "localaws-test.log"

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.url = f"http://127.0.0.1:{cls.port}"
        # One log per run, kept after it for a failing test's story.
        os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
        cls.log = os.path.join(ROOT, "target", cls.log_name)
        open(cls.log, "w").close()
        with open(cls.log, "ab") as errors:  # a crash's traceback lands in the log too
            cls.process = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "localaws.py"), "--port", str(cls.port),
                 "--tick-ms", "100", "--log", cls.log],
                stdout=subprocess.DEVNULL, stderr=errors)
        eventually(lambda: cls.control_get("/_localaws/health")["up"], timeout=30)
        cls.cfn = cls.client("cloudformation")
        cls.ecs = cls.client("ecs")
        cls.elb = cls.client("elbv2")
        cls.cfn.create_stack(
            StackName=CLUSTER_STACK, TemplateBody=cls.template("cluster.yaml"),
            Parameters=params(DesiredCapacity="2", MaxSize="4", InstanceType="t3.medium"),
            Capabilities=["CAPABILITY_IAM"])
        cls.cluster = cls.export("ClusterName")
        cls.priority = 0

    @classmethod
    def tearDownClass(cls):
        if cls.process:
            cls.process.terminate()
            cls.process.wait(10)

    def tearDown(self):
        self.control("/_localaws/faults", {})
        self.control("/_localaws/scheduler", {"paused": False})

    # -- helpers

    @classmethod
    def client(cls, service, **config):
        return boto3.client(service, region_name=REGION, endpoint_url=cls.url,
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=botocore.config.Config(**config) if config else None)

    @staticmethod
    def template(name):
        with open(os.path.join(ROOT, "cloudformation", name)) as f:
            return f.read()

    @classmethod
    def export(cls, name, at=None):
        exports = (at or cls).cfn.list_exports()["Exports"]
        return next(e["Value"] for e in exports if e["Name"] == f"{CLUSTER_STACK}:{name}")

    @classmethod
    def control_get(cls, path):
        with urllib.request.urlopen(cls.url + path, timeout=5) as r:
            return json.load(r)

    @classmethod
    def control(cls, path, body):
        request = urllib.request.Request(cls.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    # The helpers below work in the default account and us-east-1 (self), or with `at`: any
    # object with the clients cfn, ecs and elb and the cluster's name (another account/region).

    def deploy_service(self, name, desired=2, image="nginx:1.27", port=8080, at=None):
        """Creates a service stack as Berth renders it; returns the stack name."""
        type(self).priority += 1
        stack = f"berth-test-{name}"
        (at or self).cfn.create_stack(StackName=stack, TemplateBody=self.template("service.yaml"), Parameters=params(
            StackName=CLUSTER_STACK, ServiceName=name, ImageUrl=image, ContainerPort=str(port),
            ContainerCpu="256", ContainerMemory="512", Path=f"/{name}*", Priority=str(self.priority),
            DesiredCount=str(desired), HealthCheckPath="/health", TargetGroupName=f"test-{name}"))
        return stack

    def service(self, name, at=None):
        at = at or self
        return at.ecs.describe_services(cluster=at.cluster, services=[name])["services"][0]

    def tasks(self, name, status="RUNNING", at=None):
        at = at or self
        arns = at.ecs.list_tasks(cluster=at.cluster, serviceName=name, desiredStatus=status)["taskArns"]
        return at.ecs.describe_tasks(cluster=at.cluster, tasks=arns)["tasks"] if arns else []

    def steady(self, name, desired=2, at=None):
        def check():
            s = self.service(name, at=at)
            return s if (s["runningCount"], s["pendingCount"]) == (desired, 0) and \
                s["deployments"][0]["rolloutState"] == "COMPLETED" and len(s["deployments"]) == 1 else None
        return eventually(check)

    def target_group(self, stack, at=None):
        outputs = (at or self).cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "TargetGroupArn")

    def targets(self, group, at=None):
        return (at or self).elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]


class LocalAwsTest(LocalAwsCase):

    # -- the proxy

    def test_proxy_forwards_aws_calls_and_moto_api(self):
        stacks = self.cfn.describe_stacks(StackName=CLUSTER_STACK)["Stacks"]
        self.assertEqual(stacks[0]["StackStatus"], "CREATE_COMPLETE")
        self.assertTrue(self.ecs.describe_clusters(clusters=[self.cluster])["clusters"])
        with urllib.request.urlopen(self.url + "/moto-api/", timeout=5) as r:
            self.assertEqual(r.status, 200)
        with self.assertRaises(urllib.error.HTTPError) as unknown:
            self.control_get("/_localaws/nothing-here")
        self.assertEqual(unknown.exception.code, 404)

    def test_the_policy_simulator_answers_from_the_principal_s_policies(self):
        iam = self.client("iam")
        iam.create_user(UserName="simulated")
        arn = iam.get_user(UserName="simulated")["User"]["Arn"]
        iam.put_user_policy(UserName="simulated", PolicyName="stacks", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["cloudformation:Describe*", "cloudformation:CreateStack"],
                 "Resource": "arn:aws:cloudformation:*:*:stack/berth-*/*"},
                {"Effect": "Deny", "Action": "cloudformation:DeleteStack", "Resource": "*"},
            ]}))
        answer = iam.simulate_principal_policy(
            PolicySourceArn=arn,
            ActionNames=["cloudformation:DescribeStacks", "cloudformation:CreateStack",
                         "cloudformation:DeleteStack", "ecs:ListTasks"],
            ResourceArns=["arn:aws:cloudformation:us-east-1:123456789012:stack/berth-x/1"])
        decisions = {r["EvalActionName"]: r["EvalDecision"] for r in answer["EvaluationResults"]}
        self.assertEqual(decisions, {"cloudformation:DescribeStacks": "allowed", "cloudformation:CreateStack": "allowed",
                                     "cloudformation:DeleteStack": "explicitDeny", "ecs:ListTasks": "implicitDeny"})
        elsewhere = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["cloudformation:CreateStack"],
                                                  ResourceArns=["arn:aws:cloudformation:us-east-1:1:stack/other/1"])
        self.assertEqual(elsewhere["EvaluationResults"][0]["EvalDecision"], "implicitDeny", "the resource counts")
        with self.assertRaises(botocore.exceptions.ClientError) as unknown:
            iam.simulate_principal_policy(PolicySourceArn=arn + "-nobody", ActionNames=["s3:ListBucket"])
        self.assertEqual(unknown.exception.response["Error"]["Code"], "NoSuchEntity")

    # -- the scheduler and the overlays

    def test_service_stack_reaches_steady_state_with_healthy_targets(self):
        stack = self.deploy_service("orders")
        service = self.steady("orders")
        messages = [e["message"] for e in service["events"]]
        self.assertEqual(messages[0], "(service orders) has reached a steady state.")
        self.assertTrue(any(m.startswith("(service orders) has started 2 tasks: (task ") for m in messages), messages)
        times = [e["createdAt"] for e in service["events"]]
        self.assertEqual(times, sorted(times, reverse=True), "events are newest first")
        group = self.target_group(stack)
        self.assertEqual(service["loadBalancers"][0]["targetGroupArn"], group)

        tasks = self.tasks("orders")
        self.assertEqual(len(tasks), 2)
        deployment = service["deployments"][0]["id"]
        for task in tasks:
            self.assertEqual((task["lastStatus"], task["healthStatus"], task["startedBy"]),
                             ("RUNNING", "HEALTHY", deployment))
            self.assertLessEqual(task["createdAt"], task["startedAt"])
            self.assertNotIn("exitCode", task["containers"][0])
        # Other services' tasks are not listed (moto alone ignores serviceName).
        self.deploy_service("others", desired=1)
        self.steady("others", desired=1)
        self.assertEqual(len(self.tasks("orders")), 2)

        bindings = {(t["containerInstanceArn"], t["containers"][0]["networkBindings"][0]["hostPort"])
                    for t in tasks}
        instances = self.ecs.describe_container_instances(
            cluster=self.cluster, containerInstances=[ci for ci, _ in bindings])["containerInstances"]
        ec2_id = {ci["containerInstanceArn"]: ci["ec2InstanceId"] for ci in instances}
        expected = {(ec2_id[ci], port) for ci, port in bindings}
        health = self.targets(group)
        self.assertEqual({(t["Target"]["Id"], t["Target"]["Port"]) for t in health}, expected)
        self.assertEqual({t["TargetHealth"]["State"] for t in health}, {"healthy"})

    def test_a_service_answers_its_deployment_configuration(self):
        self.deploy_service("configured", desired=1)
        configuration = self.service("configured")["deploymentConfiguration"]
        self.assertEqual(configuration, {"maximumPercent": 200, "minimumHealthyPercent": 50,
                                         "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        definition = self.service("configured")["taskDefinition"]
        self.ecs.create_service(cluster=self.cluster, serviceName="configured-api", taskDefinition=definition,
                                desiredCount=0, deploymentConfiguration={
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": False}})
        answered = self.service("configured-api")["deploymentConfiguration"]
        self.assertEqual(answered["deploymentCircuitBreaker"], {"enable": True, "rollback": False})
        self.ecs.delete_service(cluster=self.cluster, service="configured-api")

    def test_stopped_task_keeps_reason_and_exit_code_and_is_replaced(self):
        self.deploy_service("payments")
        self.steady("payments")
        victim = self.tasks("payments")[0]["taskArn"]
        self.control("/_localaws/tasks/stop", {"cluster": self.cluster, "task": victim,
                                               "reason": "Essential container in task exited", "exit_code": 137})
        service = self.steady("payments")
        running = [t["taskArn"] for t in self.tasks("payments")]
        self.assertEqual(len(running), 2)
        self.assertNotIn(victim, running)
        stopped = self.tasks("payments", "STOPPED")
        self.assertEqual([t["taskArn"] for t in stopped], [victim])
        task = stopped[0]
        self.assertEqual((task["lastStatus"], task["stopCode"], task["stoppedReason"]),
                         ("STOPPED", "EssentialContainerExited", "Essential container in task exited"))
        self.assertEqual(task["containers"][0]["exitCode"], 137)
        self.assertGreaterEqual(task["stoppedAt"], task["startedAt"])
        messages = [e["message"] for e in service["events"]]
        self.assertTrue(any("has started 1 tasks" in m for m in messages), messages)
        self.assertEqual(len(self.targets(self.target_group("berth-test-payments"))), 2)

    def test_task_health_can_be_set(self):
        self.deploy_service("health", desired=1)
        self.steady("health", desired=1)
        task = self.tasks("health")[0]["taskArn"]
        self.control("/_localaws/tasks/health", {"cluster": self.cluster, "task": task, "health": "UNHEALTHY"})
        described = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task])["tasks"][0]
        self.assertEqual(described["healthStatus"], "UNHEALTHY")
        self.assertEqual(described["containers"][0]["healthStatus"], "UNHEALTHY")

    def test_target_health_can_be_overridden(self):
        stack = self.deploy_service("targets")
        self.steady("targets")
        group = self.target_group(stack)
        first = eventually(lambda: len(self.targets(group)) == 2 and self.targets(group))[0]["Target"]
        self.control("/_localaws/targets/health", {
            "target_group_arn": group, "target_id": first["Id"], "port": first["Port"], "state": "unhealthy",
            "reason": "Target.ResponseCodeMismatch", "description": "Health checks failed with these codes: [502]"})
        states = {(t["Target"]["Id"], t["Target"]["Port"]): t["TargetHealth"] for t in self.targets(group)}
        self.assertEqual(states.pop((first["Id"], first["Port"])), {
            "State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
            "Description": "Health checks failed with these codes: [502]"})
        self.assertEqual([h["State"] for h in states.values()], ["healthy"])
        self.control("/_localaws/targets/health", {"target_group_arn": group, "state": "initial"})
        self.assertEqual({t["TargetHealth"]["Reason"] for t in self.targets(group)},
                         {"Elb.InitialHealthChecking", "Target.ResponseCodeMismatch"})
        self.control("/_localaws/targets/health", {"target_group_arn": group, "state": "healthy"})
        self.assertEqual({t["TargetHealth"]["State"] for t in self.targets(group)}, {"healthy"})

    def test_paused_scheduler_leaves_tasks_pending(self):
        self.control("/_localaws/scheduler", {"paused": True})
        self.deploy_service("pending")
        service = eventually(lambda: (s := self.service("pending"))["pendingCount"] == 2 and s)
        self.assertEqual(service["runningCount"], 0)
        self.assertEqual(service["deployments"][0]["rolloutState"], "IN_PROGRESS")
        self.assertEqual({t["lastStatus"] for t in self.tasks("pending")}, {"PENDING"})
        self.assertEqual(self.targets(self.target_group("berth-test-pending")), [])
        self.control("/_localaws/scheduler", {"paused": False})
        self.steady("pending")

    def test_new_task_definition_rolls_the_tasks(self):
        stack = self.deploy_service("rolling")
        old = self.steady("rolling")
        old_tasks = {t["taskArn"] for t in self.tasks("rolling")}
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=params(
            StackName=CLUSTER_STACK, ServiceName="rolling", ImageUrl="nginx:1.28", ContainerPort="8080",
            ContainerCpu="256", ContainerMemory="512", Path="/rolling*", Priority=str(self.priority),
            DesiredCount="2", HealthCheckPath="/health", TargetGroupName="test-rolling"))
        old_id = old["deployments"][0]["id"]
        new = eventually(lambda: (s := self.steady("rolling"))["deployments"][0]["id"] != old_id and s)
        self.assertNotEqual(new["deployments"][0]["taskDefinition"], old["deployments"][0]["taskDefinition"])
        running = self.tasks("rolling")
        self.assertEqual(len(running), 2)
        self.assertFalse(old_tasks & {t["taskArn"] for t in running})
        self.assertEqual({t["taskDefinitionArn"] for t in running}, {new["taskDefinition"]})
        self.assertTrue(old_tasks <= {t["taskArn"] for t in self.tasks("rolling", "STOPPED")})
        self.assertTrue(any("has stopped 2 running tasks" in e["message"] for e in new["events"]))
        self.assertEqual(len(self.targets(self.target_group(stack))), 2)

    def test_deleted_service_stack_stops_its_tasks(self):
        stack = self.deploy_service("doomed")
        self.steady("doomed")
        group = self.target_group(stack)
        self.cfn.delete_stack(StackName=stack)
        eventually(lambda: not self.tasks("doomed"))
        self.assertEqual(len(self.tasks("doomed", "STOPPED")), 2)
        self.assertEqual(self.targets(group), [])

    # -- faults and statistics

    def test_throttling_answers_are_throttling_errors_the_sdks_retry(self):
        self.control("/_localaws/faults", {"throttle": 1.0, "services": ["ecs", "cloudformation", "ec2"]})
        retry_once = {"mode": "standard", "total_max_attempts": 2}
        calls = [("ecs", "list_clusters", "ThrottlingException"),  # awsJson
                 ("cloudformation", "list_stacks", "Throttling"),  # awsQuery
                 ("ec2", "describe_vpcs", "RequestLimitExceeded")]  # EC2's own query errors
        for service, operation, code in calls:
            with self.subTest(operation=operation):
                with self.assertRaises(ClientError) as raised:
                    getattr(self.client(service, retries=retry_once), operation)()
                error = raised.exception.response
                self.assertEqual(error["Error"]["Code"], code)
                self.assertEqual(error["Error"]["Message"], "Rate exceeded")
                self.assertIn(code, RUST_SDK_THROTTLING_CODES)
                self.assertEqual(error["ResponseMetadata"]["RetryAttempts"], 1, "botocore retried it as throttling")
        # Services not named are not affected.
        self.assertTrue(self.client("elbv2").describe_load_balancers()["LoadBalancers"])

    def test_server_errors_and_lost_responses(self):
        ecs = self.client("ecs", retries={"mode": "standard", "total_max_attempts": 1})
        self.control("/_localaws/faults", {"server_error": 1.0, "seed": 7})
        with self.assertRaises(ClientError) as raised:
            ecs.list_clusters()
        self.assertIn(raised.exception.response["ResponseMetadata"]["HTTPStatusCode"], (500, 503))
        self.assertIn(raised.exception.response["Error"]["Code"], ("InternalFailure", "ServiceUnavailable"))

        self.control("/_localaws/faults", {"lost_response": 1.0})
        with self.assertRaises(ClientError) as raised:
            ecs.create_cluster(clusterName="created-but-unanswered")
        self.assertEqual(raised.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.control("/_localaws/faults", {})
        names = [a.rsplit("/", 1)[-1] for a in ecs.list_clusters()["clusterArns"]]
        self.assertIn("created-but-unanswered", names, "the call reached moto")

    def test_delays(self):
        self.control("/_localaws/faults", {"delay_share": 1.0, "delay_ms": 300, "services": ["ecs"]})
        started = time.time()
        self.ecs.list_clusters()
        self.assertGreaterEqual(time.time() - started, 0.3)

    def test_stats_count_calls_and_faults(self):
        self.control("/_localaws/stats/reset", {})
        self.ecs.list_clusters()
        self.ecs.list_clusters()
        self.cfn.describe_stacks(StackName=CLUSTER_STACK)
        self.control("/_localaws/faults", {"throttle": 1.0, "services": ["ecs"]})
        no_retries = self.client("ecs", retries={"mode": "standard", "total_max_attempts": 1})
        with self.assertRaises(ClientError):
            no_retries.describe_clusters(clusters=[self.cluster])
        stats = self.control_get("/_localaws/stats")
        self.assertEqual(stats["calls"], {"ecs:ListClusters": 2, "cloudformation:DescribeStacks": 1,
                                          "ecs:DescribeClusters": 1})
        self.assertEqual(stats["faults"], {"throttle": 1, "server_error": 0, "lost_response": 0, "delay": 0})

    def test_control_api_rejects_bad_input(self):
        for path, body in [("/_localaws/tasks/health", {"cluster": self.cluster, "task": "x", "health": "GREAT"}),
                           ("/_localaws/faults", {"throttle": 2}),
                           ("/_localaws/scheduler", {"paused": "yes"})]:
            with self.subTest(path=path):
                with self.assertRaises(urllib.error.HTTPError) as raised:
                    self.control(path, body)
                self.assertEqual(raised.exception.code, 400)
        with self.assertRaises(urllib.error.HTTPError) as raised:
            self.control("/_localaws/tasks/stop", {"cluster": self.cluster, "task": "no-such-task", "reason": "x"})
        self.assertEqual(raised.exception.code, 404)


def params(**values):
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


if __name__ == "__main__":
    unittest.main()
