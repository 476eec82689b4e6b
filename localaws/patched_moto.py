"""moto_server with the one moto fix that no proxy can make from outside.

localaws starts moto through this file (same arguments as `moto_server`). moto 5.2.5's
CloudFormation *update* of an AWS::ECS::TaskDefinition registers the new revision from the
template's PascalCase properties without the PascalCase -> camelCase conversion its *create*
does: the new revision has no container name, image or port mappings (DescribeTaskDefinition
shows `cpu: 0, portMappings: []`), and because the comparison with the old revision never
matches, every stack update registers a new revision even when nothing changed. The fix below
is moto's own create path applied to update. Everything else is stock moto.
"""

import sys

from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs import models as ecs_models
from moto.server import main


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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
