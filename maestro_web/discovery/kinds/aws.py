"""An AWS account, read with botocore (read-only calls; the IAM policy is in docs/discovery.md).

Nodes: EC2 instances (grouped by their `Name` tag, else one per instance id), ELBv2 load balancers,
RDS instances, ElastiCache clusters (grouped by replication group), Lambda functions and SQS queues,
in every region of `settings["regions"]`. Edges:
- load balancer -> the instances (and Lambda functions) registered in its target groups (`inferred`);
- security groups: an ingress rule of group B that names group A -> every member of A -> every
  member of B (members: instances, load balancers, RDS, ElastiCache, Lambda in a VPC) (`inferred`);
- Lambda function -> the SQS queues of its event source mappings (`declared`: the mapping says so).

Credentials `{"access_key_id", "secret_access_key", "role_arn"?, "external_id"?}`: with a role, STS
assume-role first (with the external id when given). `settings["endpoint_url"]` points every client
at an AWS-compatible endpoint; the app and the service accept it only from their allow-list
(MAESTRO_DISCOVERY_AWS_ENDPOINTS), this module trusts what it is given. A provider error the crawl
cannot go on without (bad keys, a role it may not assume, an endpoint it cannot reach) raises
InputRefused with the provider's message; a call refused for lack of permission leaves that kind of
resource out and says so in `problems`. The keys never appear in a message.

Each crawl has a botocore session of its own (its credentials), and every session of the process
shares one loader of botocore's data: a service's model (EC2's is several megabytes of JSON) is read
once per process, not once per crawl (about 0.4 s of CPU a crawl; docs/discovery.md). The discovery
service runs each crawl in a new child of its fork server, so there each crawl still reads them once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from maestro_web.discovery.inference import Confidence, Inference, InputRefused, Progress
from maestro_web.discovery.kinds.common import GraphBuilder, clip, kind_from_words, report, unique_names

MAX_REGIONS = 30
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# Errors that mean the keys or the role are no good: nothing can be read, so the input is refused.
_CREDENTIAL_ERRORS = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "OptInRequired",
    }
)
_LOADER = botocore.loaders.create_loader()  # caches what it reads; shared by every crawl's session
_CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="maestro-discovery",
)


@dataclass
class _Resource:
    key: str  # unique in the crawl: "ec2:web", "rds:orders", ...
    name: str  # the name it wants in the graph
    region: str
    label: str  # "EC2", "RDS", ... (tells same names apart)
    kind: str | None
    evidence: list[str] = field(default_factory=list)
    node: str = ""


class _Account:
    """What the crawl has found so far, and the calls that find it."""

    def __init__(self, session: Any, endpoint_url: str | None, secrets: tuple[str, ...], graph: GraphBuilder) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.secrets = secrets
        self.graph = graph
        self.resources: dict[str, _Resource] = {}
        self.members: dict[str, set[str]] = {}  # security group id -> resource keys
        self.group_names: dict[str, str] = {}  # security group id -> its name
        self.instances: dict[str, str] = {}  # instance id -> resource key
        self.functions: dict[str, str] = {}  # function ARN -> resource key
        self.queues: dict[str, str] = {}  # "region:queue name" -> resource key
        self.edges: list[tuple[str, str, str, Confidence]] = []

    def client(self, service: str, region: str) -> Any:
        return self.session.create_client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG
        )

    def call(self, what: str, region: str, left_out: str, run: Callable[[], None]) -> None:
        """Run one read; a permission refusal leaves `left_out` out (a problem), anything worse is fatal."""
        try:
            run()
        except ClientError as exc:
            code, message = _error(exc)
            if code in _CREDENTIAL_ERRORS:
                raise InputRefused(
                    self.scrub(f"AWS refused the credentials ({what} in {region}): {code}: {message}")
                ) from None
            self.graph.problem(self.scrub(f"AWS refused {what} in {region} ({code}: {message}); {left_out} left out"))
        except BotoCoreError as exc:
            raise InputRefused(self.scrub(f"could not read AWS ({what} in {region}): {exc}")) from None

    def scrub(self, message: str) -> str:
        return _scrub(message, self.secrets)

    def add(self, resource: _Resource, groups: Iterable[str] = ()) -> None:
        self.resources.setdefault(resource.key, resource)
        for group in groups:
            self.members.setdefault(group, set()).add(resource.key)

    # --- what is read, service by service ----------------------------------------------------------

    def ec2_instances(self, region: str) -> None:
        ec2 = self.client("ec2", region)
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    if instance.get("State", {}).get("Name") in ("terminated", "shutting-down"):
                        continue
                    instance_id = instance["InstanceId"]
                    name = next(
                        (
                            tag.get("Value")
                            for tag in instance.get("Tags", []) or []
                            if tag.get("Key") == "Name" and tag.get("Value")
                        ),
                        None,
                    )
                    key = f"ec2:{region}:{name}" if name else f"ec2:{region}:{instance_id}"
                    resource = self.resources.get(key) or _Resource(key, name or instance_id, region, "EC2", None)
                    resource.evidence.append(
                        f"EC2 instance {instance_id}" + (f" (tag Name {name})" if name else "") + f" in {region}"
                    )
                    groups = [g["GroupId"] for g in instance.get("SecurityGroups", []) if g.get("GroupId")]
                    for interface in instance.get("NetworkInterfaces", []) or []:
                        groups += [g["GroupId"] for g in interface.get("Groups", []) if g.get("GroupId")]
                    self.add(resource, groups)
                    self.instances[instance_id] = key

    def load_balancers(self, region: str) -> None:
        elb = self.client("elbv2", region)
        balancers = []
        for page in elb.get_paginator("describe_load_balancers").paginate():
            balancers += page.get("LoadBalancers", [])
        for balancer in balancers:
            name = balancer["LoadBalancerName"]
            key = f"elb:{region}:{name}"
            kind = "frontend" if balancer.get("Scheme") == "internet-facing" else None
            self.add(
                _Resource(
                    key,
                    name,
                    region,
                    "load balancer",
                    kind,
                    [
                        f"{balancer.get('Type', 'application')} load balancer {name} "
                        f"({balancer.get('Scheme', 'internal')}) in {region}"
                    ],
                ),
                balancer.get("SecurityGroups", []) or [],
            )
            for page in elb.get_paginator("describe_target_groups").paginate(
                LoadBalancerArn=balancer["LoadBalancerArn"]
            ):
                for group in page.get("TargetGroups", []):
                    health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
                    for description in health.get("TargetHealthDescriptions", []):
                        target = description.get("Target", {}).get("Id")
                        if target:
                            port = group.get("Port")
                            self.edges.append(
                                (
                                    key,
                                    target,
                                    f"target group {group.get('TargetGroupName')}"
                                    + (f" (port {port})" if port else "")
                                    + f" of load balancer {name} registers {target}",
                                    "inferred",
                                )
                            )

    def rds(self, region: str) -> None:
        rds = self.client("rds", region)
        for page in rds.get_paginator("describe_db_instances").paginate():
            for db in page.get("DBInstances", []):
                name, engine = db["DBInstanceIdentifier"], str(db.get("Engine", ""))
                self.add(
                    _Resource(
                        f"rds:{region}:{name}",
                        name,
                        region,
                        "RDS",
                        kind_from_words(engine) or "database",
                        [f"RDS instance {name} ({engine}) in {region}"],
                    ),
                    [g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", []) if g.get("VpcSecurityGroupId")],
                )

    def elasticache(self, region: str) -> None:
        cache = self.client("elasticache", region)
        for page in cache.get_paginator("describe_cache_clusters").paginate():
            for cluster in page.get("CacheClusters", []):
                name = cluster.get("ReplicationGroupId") or cluster["CacheClusterId"]
                key = f"elasticache:{region}:{name}"
                resource = self.resources.get(key) or _Resource(key, name, region, "ElastiCache", "cache")
                resource.evidence.append(
                    f"ElastiCache cluster {cluster['CacheClusterId']} ({cluster.get('Engine', '?')}) in {region}"
                )
                self.add(
                    resource,
                    [g["SecurityGroupId"] for g in cluster.get("SecurityGroups", []) or [] if g.get("SecurityGroupId")],
                )

    def lambdas(self, region: str) -> None:
        functions = self.client("lambda", region)
        for page in functions.get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                name = function["FunctionName"]
                key = f"lambda:{region}:{name}"
                self.add(
                    _Resource(key, name, region, "Lambda", "function", [f"Lambda function {name} in {region}"]),
                    (function.get("VpcConfig") or {}).get("SecurityGroupIds", []) or [],
                )
                self.functions[function["FunctionArn"]] = key
                self.functions[function["FunctionArn"].split(":function:")[-1].split(":")[0]] = key

    def event_sources(self, region: str) -> None:
        functions = self.client("lambda", region)
        for page in functions.get_paginator("list_event_source_mappings").paginate():
            for mapping in page.get("EventSourceMappings", []):
                source, function = str(mapping.get("EventSourceArn", "")), str(mapping.get("FunctionArn", ""))
                if ":sqs:" in source and function:
                    queue = source.rsplit(":", 1)[-1]
                    self.edges.append(
                        (
                            function,
                            f"sqs:{source.split(':')[3]}:{queue}",
                            f"event source mapping {mapping.get('UUID', '')} of Lambda "
                            f"{function.rsplit(':', 1)[-1]} reads SQS queue {queue} "
                            f"({mapping.get('State', 'unknown state')})",
                            "declared",
                        )
                    )

    def sqs(self, region: str) -> None:
        queues = self.client("sqs", region)
        for page in queues.get_paginator("list_queues").paginate():
            for url in page.get("QueueUrls", []) or []:
                name = url.rstrip("/").rsplit("/", 1)[-1]
                key = f"sqs:{region}:{name}"
                self.add(_Resource(key, name, region, "SQS", "queue", [f"SQS queue {name} in {region}"]))

    def security_groups(self, region: str) -> None:
        ec2 = self.client("ec2", region)
        groups = []
        for page in ec2.get_paginator("describe_security_groups").paginate():
            groups += page.get("SecurityGroups", [])
        for group in groups:
            self.group_names[group["GroupId"]] = group.get("GroupName", group["GroupId"])
        for group in groups:
            target_group = group["GroupId"]
            for rule in group.get("IpPermissions", []) or []:
                ports = _ports(rule)
                for pair in rule.get("UserIdGroupPairs", []) or []:
                    source_group = pair.get("GroupId")
                    if not source_group or source_group == target_group:
                        continue  # "members may talk to each other" (the default group) says nothing about who calls whom
                    evidence = (
                        f"security group {target_group} ({self.group_names.get(target_group, '?')}) "
                        f"allows {ports} from {source_group} "
                        f"({self.group_names.get(source_group, '?')}) in {region}"
                    )
                    self.edges.append((f"sg:{source_group}", f"sg:{target_group}", evidence, "inferred"))


def infer(
    data: BinaryIO | bytes | None,
    settings: Mapping[str, object],
    credentials: Mapping[str, str] | None,
    progress: Progress | None,
) -> Inference:
    regions = _regions(settings.get("regions"))
    endpoint = settings.get("endpoint_url")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
        raise InputRefused("settings.endpoint_url must be an http(s) URL")
    key_id, secret, role, external_id = _credentials(credentials)
    graph = GraphBuilder()
    secrets = (secret, key_id)
    report(progress, "signing in to AWS", 2)
    session = _session(key_id, secret, role, external_id, regions[0], endpoint, secrets)
    account = _Account(session, endpoint, secrets, graph)
    steps = [
        ("ec2:DescribeInstances", "EC2 instances", account.ec2_instances),
        (
            "elasticloadbalancing:DescribeLoadBalancers/TargetGroups/TargetHealth",
            "load balancers",
            account.load_balancers,
        ),
        ("rds:DescribeDBInstances", "RDS instances", account.rds),
        ("elasticache:DescribeCacheClusters", "ElastiCache clusters", account.elasticache),
        ("lambda:ListFunctions", "Lambda functions", account.lambdas),
        ("sqs:ListQueues", "SQS queues", account.sqs),
        ("lambda:ListEventSourceMappings", "Lambda event sources", account.event_sources),
        ("ec2:DescribeSecurityGroups", "security-group rules", account.security_groups),
    ]
    total = len(regions) * len(steps)
    for number, region in enumerate(regions):
        for index, (what, left_out, step) in enumerate(steps):
            report(progress, f"reading {left_out} in {region}", 5 + 85 * (number * len(steps) + index) // total)
            account.call(what, region, left_out, lambda: step(region))  # noqa: B023 (called at once)
    report(progress, "linking resources", 92)
    _build(account, graph)
    report(progress, "done", 100)
    return graph.result()


def _build(account: _Account, graph: GraphBuilder) -> None:
    resources = list(account.resources.values())
    regions = {resource.region for resource in resources}
    names = unique_names(
        (
            resource.key,
            resource.name,
            (f"({resource.label})", f"({resource.region})") if len(regions) > 1 else (f"({resource.label})",),
        )
        for resource in resources
    )
    for resource in resources:
        resource.node = graph.node(names[resource.key], resource.kind)
        for evidence in resource.evidence:
            graph.node(resource.node, resource.kind, evidence)
    for source, target, evidence, confidence in account.edges:
        for source_key in _keys(account, source):
            for target_key in _keys(account, target):
                if source_key != target_key:
                    graph.edge(
                        account.resources[source_key].node, account.resources[target_key].node, evidence, confidence
                    )


def _keys(account: _Account, reference: str) -> list[str]:
    """Resource keys for an end of an edge: a security group's members, an instance id, a function
    ARN, a queue, or a resource key."""
    if reference.startswith("sg:"):
        return sorted(account.members.get(reference[3:], ()))
    if reference in account.instances:
        return [account.instances[reference]]
    if reference in account.functions:
        return [account.functions[reference]]
    return [reference] if reference in account.resources else []


def _ports(rule: Mapping[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "-1"))
    if protocol == "-1":
        return "all traffic"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if low is None or low == high:
        return f"{protocol} {low}" if low is not None else protocol
    return f"{protocol} {low}-{high}"


def _regions(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InputRefused("settings.regions must list at least one AWS region, such as eu-west-1")
    if len(value) > MAX_REGIONS:
        raise InputRefused(f"settings.regions lists {len(value)} regions; at most {MAX_REGIONS}")
    regions: list[str] = []
    for region in value:
        if not isinstance(region, str) or not _REGION.match(region):
            raise InputRefused(f"settings.regions: {clip(str(region), 40)!r} is not an AWS region name (eu-west-1)")
        if region not in regions:
            regions.append(region)
    return regions


def _credentials(credentials: Mapping[str, str] | None) -> tuple[str, str, str | None, str | None]:
    if not credentials:
        raise InputRefused("the aws source has no credentials: access_key_id and secret_access_key are needed")
    key_id, secret = credentials.get("access_key_id"), credentials.get("secret_access_key")
    if not isinstance(key_id, str) or not key_id or not isinstance(secret, str) or not secret:
        raise InputRefused("the aws source's credentials need an access_key_id and a secret_access_key")
    role, external_id = credentials.get("role_arn") or None, credentials.get("external_id") or None
    if role is not None and (not isinstance(role, str) or not role.startswith("arn:")):
        raise InputRefused("credentials.role_arn must be a role ARN (arn:aws:iam::123456789012:role/name)")
    if external_id is not None and not isinstance(external_id, str):
        raise InputRefused("credentials.external_id must be text")
    return key_id, secret, role, external_id


def _session(
    key_id: str,
    secret: str,
    role: str | None,
    external_id: str | None,
    region: str,
    endpoint: str | None,
    secrets: tuple[str, ...],
) -> Any:
    session = _botocore_session(key_id, secret, None, region)
    if role is None:
        return session
    arguments = {"RoleArn": role, "RoleSessionName": "maestro-discovery", "DurationSeconds": 900}
    if external_id:
        arguments["ExternalId"] = external_id
    try:
        sts = session.create_client("sts", region_name=region, endpoint_url=endpoint, config=_CLIENT_CONFIG)
        assumed = sts.assume_role(**arguments)["Credentials"]
    except ClientError as exc:
        code, message = _error(exc)
        text = f"AWS refused to let these credentials assume the role {role}: {code}: {message}"
        raise InputRefused(_scrub(text, (*secrets, external_id or ""))) from None
    except BotoCoreError as exc:
        raise InputRefused(_scrub(f"could not reach AWS STS to assume the role: {exc}", secrets)) from None
    return _botocore_session(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"], region)


def _botocore_session(key_id: str, secret: str, token: str | None, region: str) -> Any:
    """A session with these credentials only, reading botocore's data through the process's loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _LOADER)
    session.set_credentials(key_id, secret, token)
    session.set_config_variable("region", region)
    return session


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
    return str(error.get("Code", "Error")), str(error.get("Message", "")).strip() or "no message"


def _scrub(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return clip(message, 400)
