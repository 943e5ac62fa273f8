"""An AWS account -> nodes and edges (SPEC §11 "Inference", aws), read with boto3 over real HTTP
from moto's server on a loopback port, never by mocking boto3.

One ThreadedMotoServer per test process (reset before each test); the credential and permission
tests run `moto_server` as a process with IAM authentication switched on
(INITIAL_NO_AUTH_ACTION_COUNT: the first N requests set up a user and its policy, every later one
is checked against it).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.loaders
import pytest
import requests
from discovery_support import edges, kinds
from live_support import free_port
from moto.server import ThreadedMotoServer

from maestro_web.discovery.inference import InputRefused, infer

REGION = "eu-west-1"
KEYS = {
    "aws_access_key_id": "AKIAEXAMPLEKEY000042",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
CREDENTIALS = {"access_key_id": KEYS["aws_access_key_id"], "secret_access_key": KEYS["aws_secret_access_key"]}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def endpoint(moto: str) -> str:
    requests.post(f"{moto}/moto-api/reset", timeout=30).raise_for_status()
    return moto


def client(service: str, endpoint: str, region: str = REGION, keys: dict | None = None):
    return boto3.client(service, region_name=region, endpoint_url=endpoint, **(keys or KEYS))


def build_shop(endpoint: str, region: str = REGION) -> dict[str, str]:
    """web (2 instances behind web-alb) and a Lambda in the app group; orders-db (RDS) and the
    sessions cache allow the app group in; the Lambda reads the jobs queue; a lone batch instance."""
    ec2 = client("ec2", endpoint, region)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]]
    app = ec2.create_security_group(GroupName="app", Description="app tier", VpcId=vpc)["GroupId"]
    data = ec2.create_security_group(GroupName="data", Description="data tier", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=data,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": app}]}],
    )
    ec2.authorize_security_group_ingress(
        GroupId=app,
        IpPermissions=[  # members of app may talk to each other
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": app}]}
        ],
    )
    web = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        SecurityGroupIds=[app],
        SubnetId=subnets[0],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )
    batch = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])
    elb = client("elbv2", endpoint, region)
    balancer = elb.create_load_balancer(
        Name="web-alb", Subnets=subnets[:2], SecurityGroups=[app], Scheme="internet-facing"
    )["LoadBalancers"][0]
    group = elb.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elb.register_targets(
        TargetGroupArn=group["TargetGroupArn"],
        Targets=[{"Id": instance["InstanceId"]} for instance in web["Instances"]],
    )
    elb.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    client("rds", endpoint, region).create_db_instance(
        DBInstanceIdentifier="orders-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="shop",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        VpcSecurityGroupIds=[data],
    )
    client("elasticache", endpoint, region).create_cache_cluster(
        CacheClusterId="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        SecurityGroupIds=[data],
    )
    role = client("iam", endpoint, region).create_role(RoleName=f"worker-{region}", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    functions = client("lambda", endpoint, region)
    functions.create_function(
        FunctionName="worker",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
        VpcConfig={"SubnetIds": subnets[:1], "SecurityGroupIds": [app]},
    )
    sqs = client("sqs", endpoint, region)
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.create_queue(QueueName="dead-letters")
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    functions.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker")
    return {
        "app": app,
        "data": data,
        "batch": batch["Instances"][0]["InstanceId"],
        "web": ",".join(sorted(instance["InstanceId"] for instance in web["Instances"])),
        "role": role["Role"]["Arn"],
    }


def test_an_account_becomes_nodes_and_edges_with_evidence(endpoint):
    shop = build_shop(endpoint)
    progress: list[tuple[str, int]] = []
    result = infer(
        "aws",
        None,
        {"regions": [REGION], "endpoint_url": endpoint},
        CREDENTIALS,
        lambda phase, percent: progress.append((phase, percent)),
    )
    assert kinds(result) == {
        "web": None,
        shop["batch"]: None,
        "web-alb": "frontend",
        "orders-db": "database",
        "sessions": "cache",
        "worker": "function",
        "jobs": "queue",
        "dead-letters": "queue",
    }
    nodes = {node.name: node.evidence for node in result.nodes}
    assert sorted(nodes["web"]) == [
        f"EC2 instance {instance} (tag Name web) in {REGION}" for instance in shop["web"].split(",")
    ]
    assert nodes["orders-db"] == (f"RDS instance orders-db (postgres) in {REGION}",)
    found = edges(result)
    # moto leaves SecurityGroups out of describe_cache_clusters, so the cache has no member edges here
    assert set(found) == {
        ("web-alb", "web"),
        ("worker", "jobs"),
        ("web", "orders-db"),
        ("web-alb", "orders-db"),
        ("worker", "orders-db"),
    }
    assert found[("web-alb", "web")].confidence == "inferred"
    assert sorted(found[("web-alb", "web")].evidence) == [
        f"target group web-tg (port 80) of load balancer web-alb registers {instance}"
        for instance in shop["web"].split(",")
    ]
    assert found[("worker", "jobs")].confidence == "declared"
    assert found[("worker", "jobs")].evidence[0].startswith("event source mapping ")
    assert found[("worker", "jobs")].evidence[0].endswith(" of Lambda worker reads SQS queue jobs (Enabled)")
    assert found[("web", "orders-db")].confidence == "inferred"
    assert found[("web", "orders-db")].evidence == (
        f"security group {shop['data']} (data) allows tcp 5432 from {shop['app']} (app) in {REGION}",
    )
    assert result.problems == []
    assert progress[0] == ("signing in to AWS", 2) and progress[-1] == ("done", 100)
    assert [percent for _, percent in progress] == sorted(percent for _, percent in progress)


def test_assuming_a_role_with_an_external_id_reads_the_same_account(endpoint):
    shop = build_shop(endpoint)
    result = infer(
        "aws",
        None,
        {"regions": [REGION], "endpoint_url": endpoint},
        {**CREDENTIALS, "role_arn": shop["role"], "external_id": "maestro-7f3a"},
    )
    assert {"web", "web-alb", "orders-db", "worker", "jobs"} <= set(kinds(result))
    assert ("web-alb", "web") in edges(result)


def test_a_second_crawl_reads_none_of_botocore_s_data_files_again(endpoint, monkeypatch):
    """Every crawl has a session of its own (its own keys), and every session shares the process's
    loader: EC2's model and the others are read from disk once, not by every crawl."""
    build_shop(endpoint)
    settings = {"regions": [REGION], "endpoint_url": endpoint}
    first = infer("aws", None, settings, CREDENTIALS)
    crawler = threading.get_ident()  # moto serves in threads of this process, with its own sessions
    read: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self, file_path, *args):
        if threading.get_ident() == crawler:
            read.append(file_path)
        return load_file(self, file_path, *args)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    second = infer("aws", None, settings, {**CREDENTIALS, "access_key_id": "AKIAEXAMPLEKEY000043"})
    assert read == []
    assert kinds(second) == kinds(first)


def test_regions_are_read_one_by_one_and_same_names_are_told_apart(endpoint):
    build_shop(endpoint, "eu-west-1")
    client("sqs", endpoint, "us-east-1").create_queue(QueueName="jobs")
    result = infer("aws", None, {"regions": ["eu-west-1", "us-east-1"], "endpoint_url": endpoint}, CREDENTIALS)
    names = set(kinds(result))
    assert {"jobs (eu-west-1)", "jobs (us-east-1)"} <= names
    assert ("worker", "jobs (eu-west-1)") in edges(result)


@pytest.mark.parametrize(
    "settings, credentials, message",
    [
        ({}, CREDENTIALS, "settings.regions must list at least one AWS region"),
        (
            {"regions": ["mars-north-1; rm"]},
            CREDENTIALS,
            "settings.regions: 'mars-north-1; rm' is not an AWS region name",
        ),
        (
            {"regions": [REGION], "endpoint_url": "file:///etc/passwd"},
            CREDENTIALS,
            "settings.endpoint_url must be an http(s) URL",
        ),
        ({"regions": [REGION]}, None, "the aws source has no credentials"),
        ({"regions": [REGION]}, {"access_key_id": "AKIA"}, "the aws source's credentials need an access_key_id and a"),
        ({"regions": [REGION]}, {**CREDENTIALS, "role_arn": "admin"}, "credentials.role_arn must be a role ARN"),
    ],
)
def test_unusable_settings_and_credentials_are_refused_before_any_call(settings, credentials, message):
    with pytest.raises(InputRefused) as refused:
        infer("aws", None, settings, credentials)
    assert str(refused.value).startswith(message)


def test_an_endpoint_that_does_not_answer_is_refused_without_the_keys():
    with pytest.raises(InputRefused) as refused:
        infer("aws", None, {"regions": [REGION], "endpoint_url": f"http://127.0.0.1:{free_port()}"}, CREDENTIALS)
    message = str(refused.value)
    assert message.startswith("could not read AWS (ec2:DescribeInstances in eu-west-1): Could not connect to")
    assert KEYS["aws_secret_access_key"] not in message and KEYS["aws_access_key_id"] not in message


# --- with IAM authentication: bad keys, missing permissions ---------------------------------------

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeSecurityGroups",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticache:DescribeCacheClusters",
                "lambda:ListFunctions",
                "lambda:ListEventSourceMappings",
                "sqs:ListQueues",
            ],
        }
    ],
}  # the read-only policy of docs/discovery.md, less rds:DescribeDBInstances


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[str, dict[str, str]]]:
    """moto_server with IAM authentication after 3 requests, and the keys of a user with POLICY."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        iam = client("iam", url, "us-east-1")
        iam.create_user(UserName="crawler")  # request 1
        iam.put_user_policy(UserName="crawler", PolicyName="read", PolicyDocument=json.dumps(POLICY))  # 2
        key = iam.create_access_key(UserName="crawler")["AccessKey"]  # 3
        yield url, {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_keys_aws_does_not_know_are_refused_with_its_message_and_never_the_keys(guarded):
    url, _ = guarded
    with pytest.raises(InputRefused) as refused:
        infer("aws", None, {"regions": [REGION], "endpoint_url": url}, CREDENTIALS)
    message = str(refused.value)
    assert message.startswith(
        "AWS refused the credentials (ec2:DescribeInstances in eu-west-1): AuthFailure: "
    ) or message.startswith("AWS refused the credentials (ec2:DescribeInstances in eu-west-1): InvalidClientTokenId: ")
    assert KEYS["aws_secret_access_key"] not in message and KEYS["aws_access_key_id"] not in message


def test_a_call_the_policy_does_not_allow_leaves_that_resource_out_and_says_so(guarded):
    url, keys = guarded
    result = infer("aws", None, {"regions": [REGION], "endpoint_url": url}, keys)
    problem = result.problems[0]
    assert problem == (
        "AWS refused rds:DescribeDBInstances in eu-west-1 (AccessDenied: User: "
        "arn:aws:iam::123456789012:user/crawler is not authorized to perform: rds:DescribeDBInstances); "
        "RDS instances left out"
    )
    # moto's server checks the signatures of Lambda's REST calls differently from the other services
    # (SignatureDoesNotMatch for these valid keys), so those two calls are refused here as well.
    assert all(
        other.startswith(
            (
                "AWS refused lambda:ListFunctions in eu-west-1 (403: ",
                "AWS refused lambda:ListEventSourceMappings in eu-west-1 (403: ",
            )
        )
        for other in result.problems[1:]
    )
    assert not any(keys["secret_access_key"] in text or keys["access_key_id"] in text for text in result.problems)
