"""The request -> approve -> deploy journey through a client generated from Berth's OpenAPI
document by openapi-python-client (tests/client_journey.rs generates it and runs this).

Only the generated package `berth_api_client` talks to Berth: its operation functions and
models. Every answer's status must be one the document lists for the operation (the client
raises on any other) and its body must parse into the documented model.

Environment: BERTH_URL, BERTH_REQUESTER_TOKEN (rita, requester in team payments),
BERTH_APPROVER_TOKEN (the admin), BERTH_DEPLOY_TIMEOUT (seconds, default 60).
Exits 0 when every step behaved; otherwise 1, naming the step and what was wrong.
"""

import os
import sys
import time

from berth_api_client import AuthenticatedClient, errors
from berth_api_client.api.deployments import list_deployments
from berth_api_client.api.health import get_health
from berth_api_client.api.requests import create_request, get_request
from berth_api_client.api.review import approve_request
from berth_api_client.api.session import me
from berth_api_client.models import (
    ApiRequest,
    ApproveBody,
    Deployment,
    Health,
    Problem,
    RequestInput,
    RequestStatus,
    Role,
    User,
    Verdict,
)


class StepFailed(Exception):
    pass


current_step = "start"


def step(name):
    global current_step
    current_step = name
    print(f"-- {name}", flush=True)


def check(condition, message):
    if not condition:
        raise StepFailed(message)


def call(operation, *args, **kwargs):
    """Calls a generated operation's `sync_detailed`, turning what the generated client raises
    (an undocumented status, a body its model cannot read) into a failed step."""
    try:
        return operation.sync_detailed(*args, **kwargs)
    except errors.UnexpectedStatus as e:
        raise StepFailed(
            f"{operation.__name__} answered {e.status_code}, a status the document does not list: "
            f"{e.content.decode(errors='replace')}"
        ) from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise StepFailed(
            f"{operation.__name__}: the answer does not match the document's schema ({type(e).__name__}: {e})"
        ) from e


def expect(response, status, model):
    """The response has `status` and its parsed body is a `model` (a type or `list`)."""
    body = response.content.decode(errors="replace")
    check(response.status_code == status, f"expected {status}, got {int(response.status_code)}: {body}")
    parsed = response.parsed
    check(isinstance(parsed, model), f"expected a {model.__name__}, the client parsed {type(parsed).__name__}: {body}")
    return parsed


def client(token):
    return AuthenticatedClient(
        base_url=os.environ["BERTH_URL"],
        token=token,
        raise_on_unexpected_status=True,
    )


def journey():
    rita = client(os.environ["BERTH_REQUESTER_TOKEN"])
    admin = client(os.environ["BERTH_APPROVER_TOKEN"])
    timeout = float(os.environ.get("BERTH_DEPLOY_TIMEOUT", "60"))

    step("me: each token belongs to its user")
    user = expect(call(me, client=rita), 200, User)
    check((user.username, user.role, user.team) == ("rita", Role.REQUESTER, "payments"), f"rita's token is {user}")
    approver = expect(call(me, client=admin), 200, User)
    check(approver.role == Role.ADMIN, f"the approver's token is {approver}")

    step("create_request as rita")
    body = RequestInput(
        environment="staging",
        service_name="orders",
        description="The orders API, asked for through a generated client",
        image_url="nginx:1.27",
        container_port=8080,
        cpu=256,
        memory=512,
        desired_count=2,
        path="/orders*",
        health_check_path="/health",
    )
    created = expect(call(create_request, client=rita, body=body), 201, ApiRequest)
    check(created.status == RequestStatus.PENDING_REVIEW, f"a new request is {created.status}, not pending_review")
    check(created.revision == 1, f"a new request is at revision {created.revision}, not 1")
    check((created.requested_by, created.team) == ("rita", "payments"), f"requested by {created.requested_by} of {created.team}")
    check(created.service_name == "orders" and created.parameters.path == "/orders*", f"the request is {created.to_dict()}")
    print(f"   request {created.id}: {created.status}, revision {created.revision}, stacks "
          f"{created.stacks.cluster.stack_name} and {created.stacks.service.stack_name}")

    step("get_request: read it back")
    read = expect(call(get_request, created.id, client=rita), 200, ApiRequest)
    check(read.id == created.id and read.status == RequestStatus.PENDING_REVIEW, f"read back {read.id}: {read.status}")
    check(read.parameters.to_dict() == created.parameters.to_dict(), "the parameters read back differ from those created")

    step("get_health before any deployment: 409")
    problem = expect(call(get_health, created.id, client=rita), 409, Problem)
    print(f"   {problem.title}: {problem.detail}")

    step("approve_request as rita, a requester: 403")
    problem = expect(call(approve_request, created.id, client=rita, body=ApproveBody(revision=read.revision)), 403, Problem)
    print(f"   {problem.title}: {problem.detail}")

    step("approve_request by the admin of the admin's own request: 403 (four eyes)")
    own_body = RequestInput.from_dict({**body.to_dict(), "service_name": "billing", "path": "/billing*"})
    own = expect(call(create_request, client=admin, body=own_body), 201, ApiRequest)
    problem = expect(call(approve_request, own.id, client=admin, body=ApproveBody(revision=own.revision)), 403, Problem)
    print(f"   {problem.title}: {problem.detail}")

    step("approve_request as the admin with a revision that is not the current one: 409")
    stale = ApproveBody(revision=read.revision + 1)
    problem = expect(call(approve_request, created.id, client=admin, body=stale), 409, Problem)
    print(f"   {problem.title}: {problem.detail}")

    step(f"approve_request as the admin at revision {read.revision}")
    approved = expect(
        call(approve_request, created.id, client=admin, body=ApproveBody(revision=read.revision, comment="Looks good")),
        200,
        ApiRequest,
    )
    check(
        approved.status in (RequestStatus.APPROVED, RequestStatus.DEPLOYING, RequestStatus.DEPLOYED),
        f"an approved request is {approved.status}",
    )

    step(f"get_request until deployed (at most {timeout:.0f} s)")
    started = time.monotonic()
    seen = [approved.status]
    while True:
        now = expect(call(get_request, created.id, client=rita), 200, ApiRequest)
        if now.status != seen[-1]:
            seen.append(now.status)
        if now.status == RequestStatus.DEPLOYED:
            break
        check(
            now.status in (RequestStatus.APPROVED, RequestStatus.DEPLOYING),
            f"the request went {' -> '.join(seen)} ({now.status_reason})",
        )
        check(time.monotonic() - started < timeout, f"still {now.status} after {timeout:.0f} s ({' -> '.join(seen)})")
        time.sleep(0.25)
    check(now.deployed_revision == read.revision, f"deployed revision {now.deployed_revision}, not {read.revision}")
    print(f"   {' -> '.join(seen)} in {time.monotonic() - started:.1f} s")

    step("list_deployments")
    deployments = expect(call(list_deployments, created.id, client=rita), 200, list)
    check(all(isinstance(d, Deployment) for d in deployments), f"items are {[type(d).__name__ for d in deployments]}")
    done = [d for d in deployments if d.revision == read.revision and d.status == "succeeded"]
    check(done, f"no succeeded deployment of revision {read.revision}: {[d.to_dict() for d in deployments]}")
    deployment = done[0]
    check(deployment.kind == "deploy" and deployment.finished_at, f"the deployment is {deployment.to_dict()}")
    check(deployment.stacks, "the deployment lists no stacks")
    for stack in deployment.stacks:
        print(f"   deployment {deployment.id}: {stack.kind} stack {stack.stack_name} {stack.status}")

    step("get_health of the deployed API")
    started = time.monotonic()
    while True:
        response = call(get_health, created.id, client=rita)
        # 503: AWS has not been read yet; the first read follows the request for health.
        if response.status_code != 503 or time.monotonic() - started > 20:
            break
        time.sleep(0.5)
    health = expect(response, 200, Health)
    check(isinstance(health.verdict, Verdict), f"verdict {health.verdict!r}")
    check(health.service.desired == 2, f"the service wants {health.service.desired} tasks, not 2")
    print(f"   {health.verdict}: {health.summary} (service {health.service.status}, "
          f"{health.service.running}/{health.service.desired} running, {len(health.tasks)} tasks, fetched {health.fetched_at})")


def main():
    try:
        journey()
    except StepFailed as e:
        print(f"FAILED at step '{current_step}': {e}", file=sys.stderr)
        return 1
    print("journey complete: requested, approved by another user, deployed, deployments and health read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
