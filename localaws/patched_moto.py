"""moto_server with the moto fixes that no proxy can make from outside.

localaws and the tests start moto through this file (same arguments as `moto_server`).

1. moto 5.2.5's
CloudFormation *update* of an AWS::ECS::TaskDefinition registers the new revision from the
template's PascalCase properties without the PascalCase -> camelCase conversion its *create*
does: the new revision has no container name, image or port mappings (DescribeTaskDefinition
shows `cpu: 0, portMappings: []`), and because the comparison with the old revision never
matches, every stack update registers a new revision even when nothing changed. The fix below
is moto's own create path applied to update.
2. `!Ref AWS::NoValue` as an item of a list (an optional environment variable, security group
   rule or load balancer attribute) removes the item on AWS; moto keeps a null item.
3. CloudFormation resource types Berth's templates use that moto's API has but its
   CloudFormation does not (moto would silently skip them): `AWS::ECS::CapacityProvider`,
   `AWS::ECS::ClusterCapacityProviderAssociations`, `AWS::ApplicationAutoScaling::ScalableTarget`
   and `ScalingPolicy`; and the target group's `TargetGroupFullName` attribute. Each is created
   through moto's own API backend, as the ECS and Application Auto Scaling APIs would.
4. A security group whose rules change is updated in place, as on AWS (moto deletes it and
   makes a new one, which strands every launch template and group that names its id).
   Inline ingress rules are added; rules dropped from the template stay (moto keeps no
   record of which rules were inline).
5. The load balancer's `LoadBalancerAttributes` (moto's CloudFormation ignores them) are
   set as ModifyLoadBalancerAttributes sets them, on create and update.
6. A stack update of a resource whose type moto cannot update (the load balancer) keeps the
   resource; moto forgets it, and every `!GetAtt` of it then fails.
7. Executing an update change set makes the stack what the change set says, as on AWS: its
   parameters, tags, template outputs and exports (moto applies the resources only, so the
   stack kept its old parameters and a new export could not be imported).
8. A resource whose `Condition` is false is not a resource of the stack (moto lists it as an
   empty entry, without a type or logical id), and an output whose `Condition` is false
   exports nothing (moto exports it without a value).
9. An IAM role's inline policies from a template are stored as JSON, as PutRolePolicy stores
   them (moto kept the Python form of the mapping, which GetRolePolicy then returned).
10. An ECS service keeps the `DeploymentConfiguration` it was given (template or CreateService)
    and DescribeServices answers it, as ECS does (moto dropped it, so the deployment circuit
    breaker of a service could not be read).
11. Opt-in (stack_lifecycle.py): stack operations that take time and fail as on AWS, set
    through `/moto-api/localaws/stacks` (localaws's `/_localaws/stacks`). Without that
    setting, moto's synchronous stacks are unchanged.
12. STS AssumeRole checks the role as AWS does (moto hands out credentials for any role ARN,
    even one that does not exist, whatever its trust policy and ExternalId): the role must
    exist in its account and its trust policy must let the caller assume it. A statement
    applies when its Action (or NotAction) covers `sts:AssumeRole`, its Principal (or
    NotPrincipal) names the caller (`*`, the caller's account as `123456789012` or
    `arn:aws:iam::123456789012:root`, the caller's IAM user or role ARN, or its assumed-role
    session ARN; Service and Federated principals are never an IAM caller) and its
    Condition holds; an applying Deny refuses, else an applying Allow grants. Conditions are
    evaluated on `sts:ExternalId`, `aws:PrincipalAccount` and `aws:PrincipalArn` (operators
    String[Not]Equals[IgnoreCase], String[Not]Like, Arn[Not]Equals, Arn[Not]Like, Null,
    with IfExists; an unknown operator on these keys does not hold); a condition on any
    other key holds. Otherwise the call answers, as STS does, HTTP 403 `AccessDenied` "User:
    CALLER-ARN is not authorized to perform: sts:AssumeRole on resource: ROLE-ARN". A
    DurationSeconds above the role's MaxSessionDuration is STS's ValidationError. The
    caller's own identity policies are not evaluated (moto enforces no IAM policies).
13. `Fn::GetAZs` of the stack's own region (`''` or `!Ref AWS::Region`) gives that region's
    zones (moto gives us-east-1's in every region, so a cluster stack in eu-west-1 had its
    subnets and instances in `us-east-1a`).
14. An ECS service also keeps its `LoadBalancers`, `CapacityProviderStrategy`,
    `PlacementStrategies` and `HealthCheckGracePeriodSeconds` (template or CreateService), and
    DescribeServices answers them, as ECS does (moto dropped them). A stack update of the
    service sets them (and its DesiredCount) to the template's, as CloudFormation's update of
    the resource does.
15. A target group gets the template's `TargetGroupAttributes` and `HealthCheckEnabled` (moto's
    CloudFormation ignored them), and a stack update of the group sets its health check,
    matcher and attributes to the template's in place, as ModifyTargetGroup and
    ModifyTargetGroupAttributes do (moto could not update a target group at all, so a new
    HealthCheckPath was never applied). A change of a property that replaces the group on AWS
    (Name, Port, Protocol, VpcId, TargetType) is not applied.
16. A stack update of a listener rule also sets its Priority (moto kept the old one); a log
    group's RetentionInDays is updated in place (moto could not update a log group), a new
    LogGroupName replaces it.
17. A resource whose properties refer to a resource the update replaced (`!Ref TaskDefinition`
    of a service, when a new image registers a new revision) is updated too, as CloudFormation
    updates every resource whose resolved properties change (moto only updated resources
    whose template text or parameters changed, so the service stayed on the old revision).
18. UpdateStack with the stack's own template and parameter values answers CloudFormation's
    `ValidationError` "No updates are to be performed." (moto compared the given parameters
    with the resolved ones, defaults and numbers included, so an unchanged update of Berth's
    stacks went through and changed nothing). CreateChangeSet keeps moto's answer to the same: a
    change set created FAILED, "The submitted information didn't contain changes.", as on AWS.
19. CloudFormation drift detection (stack_drift.py): DetectStackDrift,
    DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts, DetectStackResourceDrift,
    and DriftInformation on stacks and stack resources (moto: HTTP 500 NotImplemented).
20. Drift-aware change sets (drift_revert.py): CreateChangeSet with DeploymentMode REVERT_DRIFT
    lists the drifted resources and its execution sets them back to the template (moto ignored
    DeploymentMode).
Everything else is stock moto.
"""

import copy
import fnmatch
import json
import re
import sys
import urllib.parse
from xml.sax.saxutils import escape as xml_escape

from moto.applicationautoscaling import models as aas_models
from moto.cloudformation import models as cfn_models
from moto.cloudformation import exceptions as cfn_exceptions
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.core.common_models import BaseModel, CloudFormationModel
from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ec2.exceptions import InvalidPermissionDuplicateError
from moto.ec2.models import ec2_backends
from moto.ec2.models import security_groups as sg_models
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.elbv2 import models as elbv2_models
from moto.iam import models as iam_models
from moto.logs import models as logs_models
from moto.server import main
from moto.sts import responses as sts_responses
from moto.utilities.utils import get_partition


def _same_containers(original: list, new: list) -> bool:
    """moto fills defaults into stored container definitions, so compare what was given."""
    return len(original) == len(new) and all(
        all(old.get(key) == value for key, value in given.items()) for old, given in zip(original, new))


def update_task_definition_from_cloudformation(cls, original_resource, new_resource_name, cloudformation_json,
                                               account_id, region_name):
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", original_resource.family)
    containers = remap_nested_keys(properties.get("ContainerDefinitions", []), pascal_to_camelcase)
    volumes = remap_nested_keys(properties.get("Volumes", []), pascal_to_camelcase)
    if family == original_resource.family and volumes == original_resource.volumes \
            and _same_containers(original_resource.container_definitions, containers):
        return original_resource
    backend = ecs_models.ecs_backends[account_id][region_name]
    backend.deregister_task_definition(original_resource.arn)  # CloudFormation retires the old revision
    return backend.register_task_definition(family=family, container_definitions=containers, volumes=volumes,
                                            memory=properties.get("Memory"))


ecs_models.TaskDefinition.update_from_cloudformation_json = classmethod(update_task_definition_from_cloudformation)

_clean_json = parsing.clean_json


def clean_json(resource_json, resources_map):
    if isinstance(resource_json, dict) and "Fn::GetAZs" in resource_json:
        region = resource_json["Fn::GetAZs"]
        if region in ("", None, {"Ref": "AWS::Region"}):  # the stack's region (moto: always us-east-1)
            resource_json = {"Fn::GetAZs": resources_map._region_name}
    cleaned = _clean_json(resource_json, resources_map)
    if isinstance(resource_json, list):
        return [item for item in cleaned if item is not None]
    return cleaned


parsing.clean_json = clean_json


def _camel(properties: dict) -> dict:
    return remap_nested_keys(properties, pascal_to_camelcase)


class _Resource:
    """A resource moto's CloudFormation lacks, made through moto's API backend. Each concrete
    class names CloudFormationModel as a direct base: moto finds models as its direct
    subclasses, and files each under the service named in its module."""

    def __init__(self, physical_resource_id: str, properties: dict):
        self.physical_resource_id = physical_resource_id
        self.properties = properties

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        cls.delete_from_cloudformation_json(original_resource.physical_resource_id, original_resource.properties,
                                            account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)


class CapacityProvider(_Resource, CloudFormationModel, BaseModel):
    __module__ = "moto.ecs.models"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::CapacityProvider"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        backend = ecs_models.ecs_backends[account_id][region_name]
        backend.create_capacity_provider(resource_name, _camel(properties["AutoScalingGroupProvider"]),
                                         properties.get("Tags"))
        return cls(resource_name, properties)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        # Updated in place, like ECS's UpdateCapacityProvider: the name stays.
        provider = ecs_models.ecs_backends[account_id][region_name].capacity_providers[original_resource.physical_resource_id]
        provider.auto_scaling_group_provider = provider._prepare_asg_provider(
            _camel(cloudformation_json["Properties"]["AutoScalingGroupProvider"]))
        original_resource.properties = cloudformation_json["Properties"]
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        ecs_models.ecs_backends[account_id][region_name].capacity_providers.pop(resource_name, None)


class ClusterCapacityProviderAssociations(_Resource, CloudFormationModel, BaseModel):
    __module__ = "moto.ecs.models"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::ClusterCapacityProviderAssociations"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        cluster = properties["Cluster"]
        cluster = getattr(cluster, "name", cluster)
        backend = ecs_models.ecs_backends[account_id][region_name]
        backend.put_cluster_capacity_providers(cluster, properties.get("CapacityProviders", []),
                                               _camel(properties.get("DefaultCapacityProviderStrategy", [])))
        return cls(cluster, properties)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = ecs_models.ecs_backends[account_id][region_name]
        if resource_name in backend.clusters:
            backend.put_cluster_capacity_providers(resource_name, [], [])


def _aas(account_id, region_name):
    return aas_models.applicationautoscaling_backends[account_id][region_name]


class ScalableTarget(_Resource, CloudFormationModel, BaseModel):
    __module__ = "moto.applicationautoscaling.models"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        _aas(account_id, region_name).register_scalable_target(
            p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"], int(p["MinCapacity"]),
            int(p["MaxCapacity"]), p.get("RoleARN"), p.get("SuspendedState"))
        # The id CloudFormation gives a scalable target: resource|dimension|namespace.
        return cls(f"{p['ResourceId']}|{p['ScalableDimension']}|{p['ServiceNamespace']}", p)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        resource_id, dimension, namespace = resource_name.split("|")
        try:
            _aas(account_id, region_name).deregister_scalable_target(namespace, resource_id, dimension)
        except Exception:  # already gone
            pass


class ScalingPolicy(_Resource, CloudFormationModel, BaseModel):
    __module__ = "moto.applicationautoscaling.models"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalingPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        if "ScalingTargetId" in p:
            resource_id, dimension, namespace = p["ScalingTargetId"].split("|")
        else:
            resource_id, dimension, namespace = p["ResourceId"], p["ScalableDimension"], p["ServiceNamespace"]
        # As the API passes it: the configuration itself.
        body = p.get("TargetTrackingScalingPolicyConfiguration") or p.get("StepScalingPolicyConfiguration") or {}
        policy = _aas(account_id, region_name).put_scaling_policy(
            p["PolicyName"], namespace, resource_id, dimension, body, p.get("PolicyType"))
        return cls(policy.policy_arn, p)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        policies = _aas(account_id, region_name).policies
        for key in [k for k, policy in policies.items() if policy.policy_arn == resource_name]:
            del policies[key]


_target_group_attribute = getattr(elbv2_models.FakeTargetGroup, "get_cfn_attribute", None)


def target_group_attribute(self, attribute_name):
    if attribute_name == "TargetGroupFullName":
        return self.arn.split(":", 5)[5]
    if _target_group_attribute is None:
        raise NotImplementedError(f'"Fn::GetAtt" : [ "{{0}}" , "{attribute_name}" ]"')
    return _target_group_attribute(self, attribute_name)


elbv2_models.FakeTargetGroup.get_cfn_attribute = target_group_attribute

_load_balancer_attribute = elbv2_models.FakeLoadBalancer.get_cfn_attribute


def load_balancer_attribute(self, attribute_name):
    if attribute_name == "LoadBalancerFullName":
        return self.arn.split(":loadbalancer/", 1)[1]
    return _load_balancer_attribute(self, attribute_name)


elbv2_models.FakeLoadBalancer.get_cfn_attribute = load_balancer_attribute

_create_load_balancer = elbv2_models.FakeLoadBalancer.create_from_cloudformation_json.__func__


def create_load_balancer(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """moto's create, then the LoadBalancerAttributes it ignores, as ModifyLoadBalancerAttributes sets them."""
    balancer = _create_load_balancer(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    attributes = cloudformation_json["Properties"].get("LoadBalancerAttributes", [])
    known = {a["Key"]: a["Value"] for a in attributes if a["Key"] in elbv2_models.FakeLoadBalancer.VALID_ATTRS}
    if known:
        elbv2_models.elbv2_backends[account_id][region_name].modify_load_balancer_attributes(balancer.arn, known)
    return balancer


elbv2_models.FakeLoadBalancer.create_from_cloudformation_json = classmethod(create_load_balancer)


def update_load_balancer(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    attributes = cloudformation_json["Properties"].get("LoadBalancerAttributes", [])
    known = {a["Key"]: a["Value"] for a in attributes if a["Key"] in elbv2_models.FakeLoadBalancer.VALID_ATTRS}
    if known:
        elbv2_models.elbv2_backends[account_id][region_name].modify_load_balancer_attributes(original_resource.arn, known)
    return original_resource


elbv2_models.FakeLoadBalancer.update_from_cloudformation_json = classmethod(update_load_balancer)

_parse_and_update_resource = parsing.parse_and_update_resource


def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    updated = _parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
    return resources_map[logical_id] if updated is None else updated


parsing.parse_and_update_resource = parse_and_update_resource


def _refresh_exports(backend, stack):
    current = {export.name: export for export in stack.exports}
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id and n not in current]:
        del backend.exports[name]
    backend.exports.update(current)


_execute_change_set = cfn_models.CloudFormationBackend.execute_change_set
_update_stack = cfn_models.CloudFormationBackend.update_stack


def execute_change_set(self, change_set_name, stack_name=None):
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name
         and stack_name in (None, c.stack_name, c.stack_id)), None)
    _execute_change_set(self, change_set_name, stack_name)
    if change_set is not None and change_set.change_set_type == "UPDATE":
        stack = change_set.stack
        stack.parameters = change_set.parameters
        if change_set.tags is not None:
            stack.tags = change_set.tags
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        _refresh_exports(self, stack)


def update_stack(self, *args, **kwargs):
    stack = _update_stack(self, *args, **kwargs)
    _refresh_exports(self, stack)
    return stack


_stack_resources = cfn_models.Stack.stack_resources


@property
def stack_resources(self):
    return [resource for resource in _stack_resources.fget(self) if resource is not None]


cfn_models.Stack.stack_resources = stack_resources


@property
def stack_exports(self):
    return [export for export in self.output_map.exports if export.value is not None]


cfn_models.Stack.exports = stack_exports
cfn_models.CloudFormationBackend.execute_change_set = execute_change_set
cfn_models.CloudFormationBackend.update_stack = update_stack

def update_security_group_in_place(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                   region_name):
    properties = cloudformation_json["Properties"]
    if properties.get("GroupDescription") != original_resource.description:
        # A new description replaces the group on AWS too.
        return _update_security_group(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                      region_name)
    backend = ec2_backends[account_id][region_name]
    for rule in properties.get("SecurityGroupIngress", []):
        source = {k: v for k, v in (("GroupId", rule.get("SourceSecurityGroupId")),) if v}
        try:
            backend.authorize_security_group_ingress(
                group_name_or_id=original_resource.id, ip_protocol=rule["IpProtocol"], from_port=rule["FromPort"],
                to_port=rule["ToPort"], ip_ranges=rule.get("CidrIp", []), source_groups=[source] if source else [],
                vpc_id=original_resource.vpc_id)
        except InvalidPermissionDuplicateError:
            pass
    return original_resource


_update_security_group = sg_models.SecurityGroup.update_from_cloudformation_json.__func__
sg_models.SecurityGroup.update_from_cloudformation_json = classmethod(update_security_group_in_place)

_put_role_policy = iam_models.Role.put_policy


def put_role_policy(self, policy_name, policy_json):
    _put_role_policy(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))


iam_models.Role.put_policy = put_role_policy

# The model list is cached on first use; the models above must be in it.
for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
    cached.cache_clear()

# AWS reports a parameter of an `AWS::SSM::Parameter::Value<...>` type as the parameter
# path it was given (`ParameterValue`) and what the path resolved to (`ResolvedValue`); moto
# puts the resolved AMI id in `ParameterValue`, so a stack never looks like what was asked.
_parameter_list = cfn_models.Stack.parameter_list.fget


def _parameters_as_aws_reports_them(self):
    parameters = _parameter_list(self)
    slots = self.resource_map._template.get("Parameters", {}) or {}
    for p in parameters:
        slot = slots.get(p["ParameterKey"], {}) or {}
        if str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::"):
            given = self.resource_map.input_parameters.get(p["ParameterKey"], slot.get("Default"))
            if given:
                p["ResolvedValue"] = p["ParameterValue"]
                p["ParameterValue"] = given
    return parameters


cfn_models.Stack.parameter_list = property(_parameters_as_aws_reports_them)


def _deployment_configuration(properties: dict) -> dict:
    """A template's DeploymentConfiguration as ECS answers it (camelCase; numbers and booleans,
    also when they came from a parameter as strings)."""
    configuration = _camel(properties)
    for key in ("maximumPercent", "minimumHealthyPercent"):
        if key in configuration:
            configuration[key] = int(configuration[key])
    breaker = configuration.get("deploymentCircuitBreaker")
    if isinstance(breaker, dict):
        for key in ("enable", "rollback"):
            if isinstance(breaker.get(key), str):
                breaker[key] = breaker[key].lower() == "true"
    return configuration


_create_service = ecs_models.Service.create_from_cloudformation_json.__func__
_update_service = ecs_models.Service.update_from_cloudformation_json.__func__


def _ints(item: dict, keys: tuple) -> dict:
    return {k: int(v) if k in keys and isinstance(v, (str, float)) else v for k, v in item.items()}


def _service_settings(properties: dict) -> dict:
    """What moto's CloudFormation drops of a service, as ECS's API keeps it (attribute name ->
    camelCase value, numbers as numbers also when they came from a parameter)."""
    settings = {}
    if properties.get("LoadBalancers") is not None:
        settings["load_balancers"] = [_ints(_camel(b), ("containerPort",)) for b in properties["LoadBalancers"]]
    if properties.get("CapacityProviderStrategy") is not None:
        settings["capacity_provider_strategy"] = [dict({"base": 0}, **_ints(_camel(s), ("weight", "base")))
                                                  for s in properties["CapacityProviderStrategy"]]
    if properties.get("PlacementStrategies") is not None:
        settings["placement_strategy"] = [_camel(s) for s in properties["PlacementStrategies"]]
    if properties.get("HealthCheckGracePeriodSeconds") is not None:
        settings["health_check_grace_period_seconds"] = int(properties["HealthCheckGracePeriodSeconds"])
    if properties.get("DeploymentConfiguration"):
        settings["deployment_configuration"] = _deployment_configuration(properties["DeploymentConfiguration"])
    return settings


def create_service(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    service = _create_service(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    for name, value in _service_settings(cloudformation_json["Properties"]).items():
        setattr(service, name, value)
    return service


def update_service(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    service = _update_service(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                              region_name)
    properties = cloudformation_json["Properties"]
    for name, value in _service_settings(properties).items():
        setattr(service, name, value)
    if properties.get("DesiredCount") is not None:
        service.desired_count = int(properties["DesiredCount"])
    return service


ecs_models.Service.create_from_cloudformation_json = classmethod(create_service)
ecs_models.Service.update_from_cloudformation_json = classmethod(update_service)

_create_service_response = ecs_responses.EC2ContainerServiceResponse.create_service
# CreateService parameters moto's backend does not take, and the attributes ECS answers them as.
_KEPT_SERVICE_PARAMETERS = {"deploymentConfiguration": "deployment_configuration",
                            "capacityProviderStrategy": "capacity_provider_strategy",
                            "placementStrategy": "placement_strategy",
                            "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds"}


def create_service_response(self):
    answer = _create_service_response(self)
    for parameter, name in _KEPT_SERVICE_PARAMETERS.items():
        value = self._get_param(parameter)
        if value is not None and value != []:
            setattr(answer.result["service"], name, value)
    return answer


ecs_responses.EC2ContainerServiceResponse.create_service = create_service_response


# -- 15. target groups: the template's attributes and health check, on create and on update

def _apply_target_group_template(group, properties: dict, account_id: str, region_name: str) -> None:
    backend = elbv2_models.elbv2_backends[account_id][region_name]

    def number(key):
        value = properties.get(key)
        return None if value is None else int(value)

    enabled = properties.get("HealthCheckEnabled")
    port = properties.get("HealthCheckPort")
    backend.modify_target_group(
        group.arn, health_check_proto=properties.get("HealthCheckProtocol"),
        health_check_port=None if port is None else str(port), health_check_path=properties.get("HealthCheckPath"),
        health_check_interval=number("HealthCheckIntervalSeconds"),
        health_check_timeout=number("HealthCheckTimeoutSeconds"),
        healthy_threshold_count=number("HealthyThresholdCount"),
        unhealthy_threshold_count=number("UnhealthyThresholdCount"),
        http_codes=(properties.get("Matcher") or {}).get("HttpCode"),
        health_check_enabled=None if enabled is None else str(enabled).lower() == "true")
    attributes = {a["Key"]: str(a["Value"]) for a in properties.get("TargetGroupAttributes") or []
                  if isinstance(a, dict) and "Key" in a}
    if attributes:
        backend.modify_target_group_attributes(group.arn, attributes)


_create_target_group = elbv2_models.FakeTargetGroup.create_from_cloudformation_json.__func__


def create_target_group(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    group = _create_target_group(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    _apply_target_group_template(group, cloudformation_json["Properties"], account_id, region_name)
    return group


def update_target_group(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    _apply_target_group_template(original_resource, cloudformation_json["Properties"], account_id, region_name)
    return original_resource


elbv2_models.FakeTargetGroup.create_from_cloudformation_json = classmethod(create_target_group)
elbv2_models.FakeTargetGroup.update_from_cloudformation_json = classmethod(update_target_group)

# -- 16. listener rule priority and log group retention on update

_update_listener_rule = elbv2_models.FakeListenerRule.update_from_cloudformation_json.__func__


def update_listener_rule(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    rule = _update_listener_rule(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                 region_name)
    priority = cloudformation_json["Properties"].get("Priority")
    if priority is not None and str(priority) != str(rule.priority):
        elbv2_models.elbv2_backends[account_id][region_name].set_rule_priorities(
            [{"RuleArn": rule.arn, "Priority": int(priority)}])
    return rule


elbv2_models.FakeListenerRule.update_from_cloudformation_json = classmethod(update_listener_rule)


def update_log_group(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    backend = logs_models.logs_backends[account_id][region_name]
    if new_resource_name != original_resource.name:  # a new name replaces the group
        group = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        backend.delete_log_group(original_resource.name)
        return group
    retention = cloudformation_json["Properties"].get("RetentionInDays")
    original_resource.set_retention_policy(None if retention is None else int(retention))
    return original_resource


logs_models.LogGroup.update_from_cloudformation_json = classmethod(update_log_group)


# -- 17. resources whose resolved properties changed (a Ref to a replaced resource) are updated

def _resolved(resource_map, logical_id: str):
    body = resource_map._resource_json_map.get(logical_id) or {}
    try:
        return json.dumps(parsing.clean_json(copy.deepcopy(body.get("Properties") or {}), resource_map),
                          sort_keys=True, default=lambda o: str(getattr(o, "physical_resource_id", o)))
    except Exception:  # noqa: BLE001 (a value moto cannot resolve: not compared)
        return None


_resource_map_update = parsing.ResourceMap.update


def resource_map_update(self, template, parameters=None):
    diff = self.build_resource_diff(template, parameters)
    held = [lid for lid, r in self._parsed_resources.items() if r is not None and lid in self._resource_json_map]
    before = {lid: _resolved(self, lid) for lid in held}
    _resource_map_update(self, template, parameters)
    done = set(diff["Add"]) | set(diff["Modify"]) | set(diff["Remove"])
    for logical_id in list(self._resource_json_map):  # template order: what a resource refers to comes first
        if logical_id in done or before.get(logical_id) is None or self._parsed_resources.get(logical_id) is None:
            continue
        if _resolved(self, logical_id) == before[logical_id]:
            continue
        try:
            self._parsed_resources[logical_id] = parsing.parse_and_update_resource(
                logical_id, self._resource_json_map[logical_id], self, self._account_id, self._region_name)
        except Exception as error:  # noqa: BLE001 (moto cannot update it: it stays as it was)
            print(f"patched_moto: updating {logical_id} after what it refers to changed: {error}", file=sys.stderr)


parsing.ResourceMap.update = resource_map_update


# -- 18. "No updates are to be performed." when the template and parameter values are the stack's

def _parameter_values(template: dict, given: dict) -> dict:
    slots = (template or {}).get("Parameters") or {}
    return {k: str(given[k]) if k in given else str((slot or {}).get("Default")) for k, slot in slots.items()}


_validate_different_update = cfn_responses.CloudFormationResponse._validate_different_update


def validate_different_update(self, incoming_params, stack_body, old_stack):
    if self._get_action() != "UpdateStack":
        # CreateChangeSet: an unchanged one is created FAILED ("The submitted information didn't
        # contain changes."), as moto's backend and AWS do.
        return _validate_different_update(self, incoming_params, stack_body, old_stack)
    import stack_lifecycle  # noqa: PLC0415 (loaded at the end of this file)
    with stack_lifecycle.LOCK:
        stack_lifecycle.settle(self.cloudformation_backend)
        stack_lifecycle.check_updatable(old_stack)  # a busy or failed stack says so first, as on AWS
    if not stack_body:
        return
    try:
        template = cfn_models.Stack.parse_template(stack_body)
    except Exception:  # noqa: BLE001 (moto answers a template it cannot read its own way)
        return
    if template != old_stack.template_dict:
        return
    old = old_stack.resource_map.input_parameters or {}
    given = {}
    for parameter in incoming_params or []:
        key = parameter.get("ParameterKey")
        if parameter.get("UsePreviousValue"):
            if key in old:
                given[key] = old[key]
        elif "ParameterValue" in parameter:
            given[key] = parameter["ParameterValue"]
    tags = {t["Key"]: t["Value"] for t in self._get_param("Tags", []) or []}
    if tags and tags != (old_stack.tags or {}):
        return
    if _parameter_values(template, given) == _parameter_values(template, old):
        raise cfn_exceptions.ValidationError(old_stack.name, message="No updates are to be performed.")


cfn_responses.CloudFormationResponse._validate_different_update = validate_different_update

# -- 12. STS AssumeRole as AWS checks it: the role exists and its trust policy admits the caller

def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _caller_names(backend, access_key_id: str, region: str) -> tuple:
    """(caller ARN as STS prints it, caller account, ARNs a trust policy may name the caller
    by, the caller's aws:PrincipalArn)."""
    _, arn, account = backend.get_caller_identity(access_key_id, region)
    assumed = backend.get_assumed_role_from_access_key(access_key_id)
    principal_arn = assumed.role_arn if assumed is not None else arn  # a session is its role
    return arn, account, {arn, principal_arn}, principal_arn


def _principal_matches(principal, account: str, names: set) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _listed(principal.get("AWS", [])):
        value = str(value)
        if value == "*" or value == account or value in names:
            return True
        if re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):root", value) and value.split(":")[4] == account:
            return True
    return False  # Service, Federated, CanonicalUser: never an IAM caller


_STRING_OPERATORS = {
    "stringequals": lambda v, p: v == p,
    "stringequalsignorecase": lambda v, p: v.lower() == p.lower(),
    "stringlike": lambda v, p: fnmatch.fnmatchcase(v, p),
    "arnequals": lambda v, p: v == p,
    "arnlike": lambda v, p: fnmatch.fnmatchcase(v, p),
}


def _condition_holds(operator: str, key: str, wanted, context: dict) -> bool:
    known = key.lower()
    if known not in context:
        return True  # a key localaws does not know: the condition holds
    value = context[known]
    op = operator.lower()
    if ":" in op:  # ForAnyValue: / ForAllValues: on a single-valued key
        op = op.split(":", 1)[1]
    if op == "null":
        return (value is None) == (str(_listed(wanted)[0]).lower() == "true")
    if_exists = op.endswith("ifexists")
    op = op[:-len("ifexists")] if if_exists else op
    negated = op.startswith("stringnot") or op.startswith("arnnot")
    base = op.replace("stringnot", "string").replace("arnnot", "arn")
    if base not in _STRING_OPERATORS:
        return False
    if value is None:
        return if_exists or negated
    match = any(_STRING_OPERATORS[base](value, str(p)) for p in _listed(wanted))
    return not match if negated else match


def _statement_applies(statement: dict, account: str, names: set, context: dict) -> bool:
    def covers(patterns):
        return any(fnmatch.fnmatchcase("sts:assumerole", str(p).lower()) for p in _listed(patterns))

    if "Action" in statement and not covers(statement["Action"]):
        return False
    if "NotAction" in statement and covers(statement["NotAction"]):
        return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], account, names):
        return False
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], account, names):
        return False
    if "Principal" not in statement and "NotPrincipal" not in statement:
        return False  # a trust policy statement without a principal grants nothing
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, wanted in (entries or {}).items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def trust_allows(document, account: str, names: set, principal_arn: str, external_id) -> bool:
    """Whether a role's trust policy lets this caller assume it (see 12. above)."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document) if document.lstrip().startswith("%") else document)
    context = {"sts:externalid": external_id, "aws:principalaccount": account, "aws:principalarn": principal_arn}
    allowed = False
    for statement in _listed(document.get("Statement", [])):
        if isinstance(statement, dict) and _statement_applies(statement, account, names, context):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _sts_error(status: int, code: str, message: str):
    body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{xml_escape(message)}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")
    return body, {"status": status, "Content-Type": "text/xml"}


_assume_role_response = sts_responses.TokenResponse.assume_role


def assume_role_response(self):
    role_arn = self._get_param("RoleArn") or ""
    access_key_id = self.get_access_key()
    caller_arn, caller_account, names, principal_arn = _caller_names(self.backend, access_key_id, self.region)
    role = None
    match = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):role/.+", role_arn)
    if match:
        try:
            role = iam_models.iam_backends[match.group(1)][get_partition(self.region)].get_role_by_arn(role_arn)
        except Exception:
            role = None
    if role is None or not trust_allows(role.assume_role_policy_document, caller_account, names, principal_arn,
                                        self._get_param("ExternalId")):
        return _sts_error(403, "AccessDenied", f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
                                               f"on resource: {role_arn}")
    duration = self._get_int_param("DurationSeconds", 3600)
    if duration > int(role.max_session_duration or 3600):
        return _sts_error(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set "
                                                  "for this role.")
    return _assume_role_response(self)


sts_responses.TokenResponse.assume_role = assume_role_response

# Last: it wraps the CloudFormation methods as patched above.
import stack_lifecycle  # noqa: E402 (localaws's directory is this script's, so first on sys.path)

stack_lifecycle.install()

import stack_drift  # noqa: E402 (after stack_lifecycle: it reads the stack timelines)

stack_drift.install()

import drift_revert  # noqa: E402 (after stack_drift: it compares resources with its readers)

drift_revert.install()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
