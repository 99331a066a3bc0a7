"""The CloudFormation template for the production deployment, and the Zappa settings filler.

Nothing here calls AWS: cfn-lint checks the template offline, the assertions read the
parsed template, and the filler is tested through its pure part and an injected provider.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "portal.yaml"
FILL_SCRIPT = ROOT / "infra" / "fill_zappa_settings.py"

EXPECTED_OUTPUTS = {
    "TableName",
    "TableArn",
    "KmsKeyArn",
    "LambdaRoleArn",
    "LambdaPolicyArn",
    "SesConfigurationSet",
    "SiteBucketName",
    "SiteDistributionId",
    "SiteUrl",
    "WorkQueueUrl",
    "WorkQueueArn",
    "AlarmTopicArn",
    "InboundSmsTopicArn",
}


def _load_fill_module():
    spec = importlib.util.spec_from_file_location("fill_zappa_settings", FILL_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fill = _load_fill_module()


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(TEMPLATE))


def resources_of(template: dict, resource_type: str) -> dict[str, dict]:
    found = {
        name: body for name, body in template["Resources"].items() if body["Type"] == resource_type
    }
    assert found, f"no {resource_type} in the template"
    return found


def only_resource(template: dict, resource_type: str) -> tuple[str, dict]:
    found = resources_of(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _cfn_lint_command() -> list[str]:
    beside = Path(sys.executable).with_name("cfn-lint")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "cfnlint"]


# ------------------------------------------------------------------ cfn-lint


def test_cfn_lint_passes():
    result = subprocess.run(
        [*_cfn_lint_command(), "--", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_rejects_a_broken_template(tmp_path: Path):
    # The check above can fail: the same linter refuses an invalid billing mode.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        TEMPLATE.read_text(encoding="utf-8").replace(
            "BillingMode: PAY_PER_REQUEST", "BillingMode: ON_DEMAND_PLEASE"
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [*_cfn_lint_command(), "--", str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0


# ------------------------------------------------------------------ DynamoDB + KMS


def test_table_is_on_demand_with_the_single_table_keys(template):
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == {
        ("PK", "HASH"),
        ("SK", "RANGE"),
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == dict.fromkeys(
        ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"], "S"
    )
    assert template["Parameters"]["TableName"]["Default"] == "patient-billing-portal"
    assert props["TableName"] == {"Ref": "TableName"}


def test_table_has_the_three_global_secondary_indexes(template):
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2", "GSI3"}
    for name, index in indexes.items():
        keys = {(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]}
        assert keys == {(f"{name}PK", "HASH"), (f"{name}SK", "RANGE")}
        assert index["Projection"]["ProjectionType"] == "ALL"


def test_table_is_encrypted_with_the_customer_managed_key(template):
    key_name, key = only_resource(template, "AWS::KMS::Key")
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    sse = table["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True
    assert sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyId"] in ({"Fn::GetAtt": [key_name, "Arn"]}, {"Ref": key_name})
    assert key["Properties"]["EnableKeyRotation"] is True
    root_admin = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Effect"] == "Allow" and "kms:*" in as_list(s["Action"])
    ]
    assert root_admin
    assert ":root" in json.dumps(root_admin[0]["Principal"])


def test_table_and_key_survive_stack_deletion_and_replacement(template):
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    _, key = only_resource(template, "AWS::KMS::Key")
    for resource in (table, key):
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


def test_table_has_point_in_time_recovery_and_ttl(template):
    _, table = only_resource(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


# ------------------------------------------------------------------ IAM


def _policy_statements(template: dict) -> list[dict]:
    _, policy = only_resource(template, "AWS::IAM::ManagedPolicy")
    return as_list(policy["Properties"]["PolicyDocument"]["Statement"])


def _resource_strings(resource) -> list[str]:
    """The literal text of a Resource value: strings, and the template of any Fn::Sub."""
    if isinstance(resource, str):
        return [resource]
    if isinstance(resource, list):
        return [text for item in resource for text in _resource_strings(item)]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return [sub if isinstance(sub, str) else sub[0]]
    return []  # Ref / Fn::GetAtt name a specific resource


# Actions IAM cannot scope to a resource: their only Resource is "*". Each is a read.
# Actions IAM authorises only against "*": the SES sending rate, and SNS's Publish to a
# phone number (texts, issue 22: a phone number is no resource).
UNSCOPED_READS = {"ses:GetSendQuota", "sns:Publish"}


def test_managed_policy_has_no_wildcard_resource_or_service_wide_action(template):
    statements = _policy_statements(template)
    assert statements
    for statement in statements:
        assert "NotResource" not in statement and "NotAction" not in statement
        resources = as_list(statement["Resource"])
        if set(as_list(statement["Action"])) <= UNSCOPED_READS:
            assert resources == ["*"], statement
            continue
        assert "*" not in resources, statement
        for text in _resource_strings(resources):
            assert text.strip() != "*", statement
            assert not text.endswith(":*:*"), statement
            assert not text.startswith("arn:${AWS::Partition}:*"), statement
        actions = as_list(statement["Action"])
        for action in actions:
            assert action != "*", statement
            assert action.lower() not in {"dynamodb:*", "ses:*", "kms:*", "logs:*"}, statement


def test_managed_policy_scopes_each_service(template):
    by_prefix: dict[str, list[dict]] = {}
    for statement in _policy_statements(template):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_prefix.setdefault(action.split(":")[0], []).append(statement)
    table_name, _ = only_resource(template, "AWS::DynamoDB::Table")
    key_name, _ = only_resource(template, "AWS::KMS::Key")

    (dynamodb,) = {id(s): s for s in by_prefix["dynamodb"]}.values()
    assert set(dynamodb["Action"]) >= {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
    }
    assert "dynamodb:Scan" not in dynamodb["Action"]
    assert dynamodb["Resource"] == [
        {"Fn::GetAtt": [table_name, "Arn"]},
        {"Fn::Sub": f"${{{table_name}.Arn}}/index/*"},
    ]

    (ses,) = [s for s in {id(s): s for s in by_prefix["ses"]}.values() if s["Resource"] != "*"]
    assert set(ses["Action"]) == {"ses:SendEmail", "ses:SendRawEmail"}
    ses_text = _resource_strings(ses["Resource"])
    assert any(t.endswith(":identity/${SenderIdentity}") for t in ses_text)
    assert any(":configuration-set/" in t for t in ses_text)

    (kms,) = {id(s): s for s in by_prefix["kms"]}.values()
    assert kms["Resource"] == {"Fn::GetAtt": [key_name, "Arn"]}

    (sqs,) = {id(s): s for s in by_prefix["sqs"]}.values()
    queue_name = next(
        name
        for name, queue in resources_of(template, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in queue["Properties"]
    )
    assert sqs["Resource"] == {"Fn::GetAtt": [queue_name, "Arn"]}
    assert "sqs:DeleteQueue" not in sqs["Action"] and "sqs:PurgeQueue" not in sqs["Action"]

    (logs,) = {id(s): s for s in by_prefix["logs"]}.values()
    for text in _resource_strings(logs["Resource"]):
        assert ":log-group:/aws/lambda/patient-billing-portal-" in text


def test_lambda_role_is_trusted_by_lambda_and_api_gateway_and_uses_the_policy(template):
    _, role = only_resource(template, "AWS::IAM::Role")
    policy_name, _ = only_resource(template, "AWS::IAM::ManagedPolicy")
    props = role["Properties"]
    services = {
        service
        for statement in props["AssumeRolePolicyDocument"]["Statement"]
        for service in as_list(statement["Principal"]["Service"])
    }
    assert services == {"lambda.amazonaws.com", "apigateway.amazonaws.com"}
    assert props["ManagedPolicyArns"] == [{"Ref": policy_name}]
    assert "Policies" not in props  # nothing granted outside the reviewed managed policy


def test_ses_configuration_set_exists(template):
    only_resource(template, "AWS::SES::ConfigurationSet")


# ------------------------------------------------------------------ static site


def test_site_bucket_is_private_versioned_and_encrypted(template):
    _, bucket = only_resource(template, "AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules
    assert all(
        r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"} for r in rules
    )
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in props


def test_site_bucket_policy_admits_only_the_distribution_and_only_over_tls(template):
    distribution_name, _ = only_resource(template, "AWS::CloudFront::Distribution")
    _, policy = only_resource(template, "AWS::S3::BucketPolicy")
    statements = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:GetObject"]
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert f"distribution/${{{distribution_name}}}" in source_arn["Fn::Sub"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert any(
        str(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower() == "false"
        for s in denies
    )


def test_distribution_serves_https_only_through_origin_access_control(template):
    oac_name, oac = only_resource(template, "AWS::CloudFront::OriginAccessControl")
    oac_config = oac["Properties"]["OriginAccessControlConfig"]
    assert oac_config["SigningBehavior"] == "always"
    assert oac_config["SigningProtocol"] == "sigv4"
    assert oac_config["OriginAccessControlOriginType"] == "s3"

    _, distribution = only_resource(template, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    behaviors = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == (
        "658327ea-f89d-4fab-a63d-7e88639e58f6"
    )
    assert config["DefaultRootObject"] == "index.html"
    for origin in config["Origins"]:
        assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_name, "Id"]}
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


def test_distribution_sends_the_security_headers(template):
    headers_name, headers = only_resource(template, "AWS::CloudFront::ResponseHeadersPolicy")
    _, distribution = only_resource(template, "AWS::CloudFront::Distribution")
    default = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert default["ResponseHeadersPolicyId"] == {"Ref": headers_name}

    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    hsts = security["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] == 63072000
    assert hsts["IncludeSubdomains"] is True
    assert hsts["Preload"] is True
    assert "ContentTypeOptions" in security
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    assert security["XSSProtection"]["Protection"] is True
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    csp_text = csp if isinstance(csp, str) else csp[0]
    for directive in (
        "default-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self' https://${PortalHost}",
    ):
        assert directive in csp_text
    assert "PortalBaseUrl" in json.dumps(csp)


# ------------------------------------------------------------------ parameters, outputs


def test_the_work_queue_sends_poison_batches_to_an_alarmed_dead_letter_queue(template):
    queues = resources_of(template, "AWS::SQS::Queue")
    (work,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    redrive = work["Properties"]["RedrivePolicy"]
    dead_name = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert dead_name in queues and 1 < redrive["maxReceiveCount"] <= 10
    # Longer than the function's timeout (zappa_settings.json), so a running batch is not
    # handed to a second worker.
    zappa = json.loads((ROOT / "zappa_settings.json").read_text())
    assert work["Properties"]["VisibilityTimeout"] >= 6 * zappa["dev"]["timeout_seconds"]
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    (dead_alarm,) = [
        a
        for a in alarms.values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dead_name, "QueueName"]}
    ]
    assert dead_alarm["Properties"]["Threshold"] == 0
    assert dead_alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert dead_alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "AlarmTopic" in resources_of(template, "AWS::SNS::Topic")


def test_parameters(template):
    params = template["Parameters"]
    assert {"TableName", "SenderIdentity", "PortalBaseUrl", "Stage"} <= set(params)
    assert sorted(params["Stage"]["AllowedValues"]) == ["dev", "prod"]


def test_every_output_exists_and_is_exported(template):
    outputs = template["Outputs"]
    assert set(outputs) >= EXPECTED_OUTPUTS
    for name in EXPECTED_OUTPUTS:
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}
    assert outputs["SiteUrl"]["Value"]["Fn::Sub"].startswith("https://")


def test_fill_script_reads_the_outputs_the_template_exports(template):
    assert set(fill.REQUIRED_OUTPUTS) <= set(template["Outputs"])


# ------------------------------------------------------------------ fill_zappa_settings

STACK_OUTPUTS = {
    "LambdaRoleArn": "arn:aws:iam::123456789012:role/patient-billing-portal-prod-lambda",
    "TableName": "patient-billing-portal",
    "SesConfigurationSet": "portal-prod",
    "SiteUrl": "https://d111111abcdef8.cloudfront.net",
    "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/patient-billing-portal",
    "WorkQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-prod-work",
    "WorkQueueArn": "arn:aws:sqs:us-east-1:123456789012:portal-prod-work",
    "InboundSmsTopicArn": "arn:aws:sns:us-east-1:123456789012:portal-prod-inbound-sms",
}


def _settings() -> dict:
    return {
        "dev": {"app_function": "portal.wsgi.app", "environment_variables": {"X": "dev"}},
        "prod": {
            "app_function": "portal.wsgi.app",
            "aws_region": "us-east-1",
            "manage_roles": True,
            "environment_variables": {"PORTAL_STORE": "dynamodb", "PORTAL_MAIL": "ses"},
        },
    }


def test_apply_outputs_fills_the_stage_and_keeps_everything_else():
    settings = _settings()
    filled = fill.apply_outputs(settings, "prod", STACK_OUTPUTS)
    prod = filled["prod"]
    assert prod["role_arn"] == STACK_OUTPUTS["LambdaRoleArn"]
    assert prod["manage_roles"] is False
    assert prod["app_function"] == "portal.wsgi.app"
    assert prod["aws_region"] == "us-east-1"
    assert prod["environment_variables"] == {
        "PORTAL_STORE": "dynamodb",
        "PORTAL_MAIL": "ses",
        "PORTAL_DYNAMODB_TABLE": "patient-billing-portal",
        "PORTAL_SES_CONFIGURATION_SET": "portal-prod",
        "PORTAL_STATIC_URL": "https://d111111abcdef8.cloudfront.net",
        "PORTAL_WORK_QUEUE_URL": STACK_OUTPUTS["WorkQueueUrl"],
        "PORTAL_SMS_INBOUND_TOPIC_ARN": STACK_OUTPUTS["InboundSmsTopicArn"],
    }
    assert prod["events"] == [
        {
            "function": "functions.workers.handler",
            "event_source": {
                "arn": STACK_OUTPUTS["WorkQueueArn"],
                "batch_size": 1,
                "enabled": True,
            },
        }
    ]
    assert filled["dev"] == _settings()["dev"]
    assert settings == _settings(), "the input is not modified"


def test_a_stage_that_extends_another_keeps_its_schedules_beside_the_worker():
    daily = {"function": "functions.reminders.handler", "expression": "cron(0 14 * * ? *)"}
    settings = {"dev": {"events": [daily]}, "prod": {"extends": "dev"}}

    filled = fill.apply_outputs(settings, "prod", STACK_OUTPUTS)

    assert [e["function"] for e in filled["prod"]["events"]] == [
        "functions.reminders.handler",
        "functions.workers.handler",
    ]
    assert filled["dev"]["events"] == [daily]


def test_apply_outputs_creates_environment_variables_when_absent():
    filled = fill.apply_outputs({"prod": {}}, "prod", STACK_OUTPUTS)
    assert filled["prod"]["environment_variables"]["PORTAL_DYNAMODB_TABLE"] == (
        "patient-billing-portal"
    )


@pytest.mark.parametrize(
    "missing",
    [
        "LambdaRoleArn",
        "TableName",
        "SesConfigurationSet",
        "SiteUrl",
        "WorkQueueUrl",
        "WorkQueueArn",
    ],
)
def test_apply_outputs_refuses_a_missing_output(missing):
    outputs = {k: v for k, v in STACK_OUTPUTS.items() if k != missing}
    with pytest.raises(fill.FillError, match=missing):
        fill.apply_outputs(_settings(), "prod", outputs)


def test_apply_outputs_refuses_an_unknown_stage():
    with pytest.raises(fill.FillError, match="staging"):
        fill.apply_outputs(_settings(), "staging", STACK_OUTPUTS)


def _write(path: Path, settings: dict) -> Path:
    path.write_text(json.dumps(settings, indent=4) + "\n", encoding="utf-8")
    return path


def test_main_writes_the_filled_stage(tmp_path: Path):
    path = _write(tmp_path / "zappa_settings.json", _settings())
    calls = []

    def provider(stack, region):
        calls.append((stack, region))
        return STACK_OUTPUTS

    code = fill.main(
        ["--stack", "portal-prod", "--stage", "prod", "--settings", str(path)],
        outputs_provider=provider,
    )
    assert code == 0
    assert calls == [("portal-prod", "us-east-1")]
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    written = json.loads(text)
    assert written == fill.apply_outputs(_settings(), "prod", STACK_OUTPUTS)
    assert text == json.dumps(written, indent=4, ensure_ascii=False) + "\n"


def test_main_refuses_a_missing_output_with_one_line(tmp_path: Path, capsys):
    path = _write(tmp_path / "zappa_settings.json", _settings())
    before = path.read_text(encoding="utf-8")
    outputs = {k: v for k, v in STACK_OUTPUTS.items() if k != "SiteUrl"}
    code = fill.main(
        ["--stack", "portal-prod", "--stage", "prod", "--settings", str(path)],
        outputs_provider=lambda stack, region: outputs,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "SiteUrl" in err
    assert path.read_text(encoding="utf-8") == before


def test_main_refuses_an_unknown_stage_before_asking_aws(tmp_path: Path, capsys):
    path = _write(tmp_path / "zappa_settings.json", _settings())

    def provider(stack, region):
        raise AssertionError("AWS must not be asked about an unknown stage")

    code = fill.main(
        ["--stack", "portal-prod", "--stage", "staging", "--settings", str(path)],
        outputs_provider=provider,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "staging" in err


def test_script_exits_2_for_an_unknown_stage_without_aws(tmp_path: Path):
    path = _write(tmp_path / "zappa_settings.json", _settings())
    env = {
        **os.environ,
        # Anything that did reach for AWS would fail loudly rather than use real credentials.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        [
            sys.executable,
            str(FILL_SCRIPT),
            "--stack",
            "portal-prod",
            "--stage",
            "staging",
            "--settings",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "staging" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------ SES feedback and alarms


def test_the_configuration_set_publishes_its_feedback_to_the_topic(template):
    set_name, config = only_resource(template, "AWS::SES::ConfigurationSet")
    assert config["Properties"]["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    _, destination = only_resource(template, "AWS::SES::ConfigurationSetEventDestination")
    props = destination["Properties"]
    assert props["ConfigurationSetName"] == {"Ref": set_name}
    event = props["EventDestination"]
    assert event["Enabled"] is True
    assert sorted(event["MatchingEventTypes"]) == ["bounce", "complaint", "delivery", "reject"]
    assert event["SnsDestination"] == {"TopicARN": {"Ref": "MailEventsTopic"}}
    assert destination["DependsOn"] == "MailEventsTopicPolicy"  # SES checks it may publish


def test_only_ses_for_this_configuration_set_may_publish_to_the_events_topic(template):
    policies = resources_of(template, "AWS::SNS::TopicPolicy")
    props = policies["MailEventsTopicPolicy"]["Properties"]
    assert props["Topics"] == [{"Ref": "MailEventsTopic"}]
    allow, deny = props["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": "MailEventsTopic"}
    condition = allow["Condition"]["StringEquals"]
    assert condition["AWS:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert condition["AWS:SourceArn"]["Fn::Sub"].endswith(
        ":configuration-set/${MailConfigurationSet}"
    )
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_zappa_routes_the_events_topic_to_the_feedback_handler():
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    for stage in ("dev", "prod"):
        [event] = [
            e
            for e in settings[stage]["events"]
            if e["function"] == "functions.ses_feedback.handler"
        ]
        source = event["event_source"]
        assert source["events"] == ["sns:Publish"]
        assert source["arn"].startswith("arn:aws:sns:")
        assert source["arn"].endswith(f":patient-billing-portal-{stage}-ses-events")
        # The schedules are the same in every stage.
        assert [e.get("expression") for e in settings[stage]["events"][:2]] == [
            e.get("expression") for e in settings["dev"]["events"][:2]
        ]


def _alarm(template: dict, metric: str) -> dict:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    [alarm] = [
        a["Properties"] for a in alarms.values() if a["Properties"].get("MetricName") == metric
    ]
    return alarm


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [("Reputation.BounceRate", 0.02), ("Reputation.ComplaintRate", 0.001)],
)
def test_ses_reputation_alarms_go_to_the_alarm_topic(template, metric, threshold):
    alarm = _alarm(template, metric)
    assert alarm["Namespace"] == "AWS/SES"
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 86400
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert "docs/operations.md" in alarm["AlarmDescription"]


def test_the_alarm_topic_takes_cloudwatch_and_an_optional_email(template):
    topics = resources_of(template, "AWS::SNS::Topic")
    assert set(topics) == {"MailEventsTopic", "AlarmTopic", "InboundSmsTopic"}
    policy = resources_of(template, "AWS::SNS::TopicPolicy")["AlarmTopicPolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    subscription = resources_of(template, "AWS::SNS::Subscription")["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_the_events_and_alarm_topics_are_exported(template):
    outputs = template["Outputs"]
    assert outputs["SesEventsTopicArn"]["Value"] == {"Ref": "MailEventsTopic"}
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert set(fill.EVENT_SOURCE_OUTPUTS.values()) <= set(outputs)


def test_apply_outputs_sets_the_feedback_topic_as_the_event_source():
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    topic = "arn:aws:sns:us-east-1:123456789012:patient-billing-portal-prod-ses-events"
    del settings["prod"]["events"]  # inherited from dev: copied into prod, then filled

    filled = fill.apply_outputs(settings, "prod", {**STACK_OUTPUTS, "SesEventsTopicArn": topic})

    [event] = [
        e for e in filled["prod"]["events"] if e["function"] == "functions.ses_feedback.handler"
    ]
    assert event["event_source"] == {"arn": topic, "events": ["sns:Publish"]}
    assert filled["dev"] == settings["dev"]  # the stage it extends is left as it was


# ------------------------------------------------------------------ log metrics and alarms

NAMESPACE = {"Fn::Sub": "PatientBillingPortal/${Stage}"}
LOG_GROUP = "/aws/lambda/patient-billing-portal-${Stage}"
NEW_ALARMS = {
    "ServerErrorRateAlarm": "Server error rate",
    "WebhookFailuresAlarm": "Webhook failures",
    "JobFailuresAlarm": "Job failures",
    "FunctionErrorsAlarm": "Function errors",
    "DynamoDbThrottlesAlarm": "DynamoDB throttles",
    "WorkBacklogAlarm": "Work backlog",
}


def test_the_log_group_is_the_functions_kept_a_year_unless_lambda_made_it_already(template):
    group = resources_of(template, "AWS::Logs::LogGroup")["PortalLogGroup"]
    assert group["Condition"] == "CreatesLogGroup"
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": LOG_GROUP}
    assert group["Properties"]["RetentionInDays"] == 365
    assert group["DeletionPolicy"] == "Retain"
    zappa = json.loads((ROOT / "zappa_settings.json").read_text())
    assert LOG_GROUP.replace("${Stage}", "dev").endswith(zappa["dev"]["project_name"] + "-dev")
    assert template["Parameters"]["CreateLogGroup"]["Default"] == "true"


def _filter_fields(pattern: str) -> set[str]:
    import re

    return set(re.findall(r"\$\.(\w+)", pattern))


def test_each_metric_filter_reads_fields_the_json_lines_carry(template):
    from portal.services.plan_charges import ChargeSummary
    from portal.services.reminders import ReminderSummary
    from tests.integration.test_log_lines import FIELDS

    batch_fields = {"job", "message_id", "size", "ms", "store_calls", "refused", "error"}
    batch_fields |= set(ReminderSummary().counts()) | set(ChargeSummary().counts())
    filters = resources_of(template, "AWS::Logs::MetricFilter")
    assert set(filters) == {
        "RequestsMetricFilter",
        "ServerErrorsMetricFilter",
        "WebhookFailuresMetricFilter",
        "JobFailuresMetricFilter",
    }
    metrics = {}
    for name, resource in filters.items():
        props = resource["Properties"]
        assert props["LogGroupName"] == {
            "Fn::If": ["CreatesLogGroup", {"Ref": "PortalLogGroup"}, {"Fn::Sub": LOG_GROUP}]
        }
        fields = _filter_fields(props["FilterPattern"])
        assert fields and fields <= (FIELDS | batch_fields), (name, fields)
        [transform] = props["MetricTransformations"]
        assert transform["MetricNamespace"] == NAMESPACE and transform["MetricValue"] == "1"
        assert transform["DefaultValue"] == 0
        metrics[name] = (transform["MetricName"], props["FilterPattern"])
    assert metrics["ServerErrorsMetricFilter"] == ("ServerErrors", "{ $.status >= 500 }")
    assert "job" in _filter_fields(metrics["JobFailuresMetricFilter"][1])
    assert '"/webhooks/stripe"' in metrics["WebhookFailuresMetricFilter"][1]


def test_the_webhook_filter_names_the_route_stripe_posts_to(tmp_path):
    from portal import create_app
    from portal.config import Settings

    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "p.sqlite3"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_PAYMENTS": "stripe",
            "STRIPE_SECRET_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
        }
    )
    rules = {rule.rule for rule in create_app(settings).url_map.iter_rules()}
    assert "/webhooks/stripe" in rules


@pytest.mark.parametrize("name", sorted(NEW_ALARMS))
def test_each_alarm_goes_to_the_one_alarm_topic_and_is_explained(template, name):
    alarm = resources_of(template, "AWS::CloudWatch::Alarm")[name]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["TreatMissingData"] == "notBreaching"
    description = " ".join(alarm["AlarmDescription"].split())
    assert f'docs/operations.md, "{NEW_ALARMS[name]}"' in description
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert f"({NEW_ALARMS[name]})" in operations or f'"{NEW_ALARMS[name]}"' in operations
    suffix = alarm["AlarmName"]["Fn::Sub"].removeprefix("patient-billing-portal-${Stage}-")
    assert f"patient-billing-portal-<stage>-{suffix}" in operations


def _metric_stats(alarm: dict) -> dict[str, dict]:
    return {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}


def test_the_server_error_rate_is_errors_over_requests_from_the_log_filters(template):
    alarm = resources_of(template, "AWS::CloudWatch::Alarm")["ServerErrorRateAlarm"]["Properties"]
    [returned] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert returned["Expression"] == "IF(requests >= 20, 100 * errors / requests, 0)"
    stats = _metric_stats(alarm)
    assert stats["errors"]["Metric"] == {"Namespace": NAMESPACE, "MetricName": "ServerErrors"}
    assert stats["requests"]["Metric"] == {"Namespace": NAMESPACE, "MetricName": "Requests"}
    assert {s["Stat"] for s in stats.values()} == {"Sum"}
    assert alarm["Threshold"] == 5 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_throttle_alarm_adds_the_tables_read_and_write_throttles(template):
    alarm = resources_of(template, "AWS::CloudWatch::Alarm")["DynamoDbThrottlesAlarm"]
    stats = _metric_stats(alarm["Properties"])
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    for stat in stats.values():
        table = {"Name": "TableName", "Value": {"Ref": "PortalTable"}}
        assert stat["Metric"]["Dimensions"] == [table]


def test_the_job_alarms_watch_the_function_and_the_work_queue(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    errors = alarms["FunctionErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Fn::Sub": "patient-billing-portal-${Stage}"}}
    ]
    backlog = alarms["WorkBacklogAlarm"]["Properties"]
    assert backlog["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert backlog["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["WorkQueue", "QueueName"]}
    jobs = alarms["JobFailuresAlarm"]["Properties"]
    assert (jobs["Namespace"], jobs["MetricName"], jobs["Threshold"]) == (
        NAMESPACE,
        "JobFailures",
        0,
    )


# -- texts (issue 22) --------------------------------------------------------------------


def test_the_function_may_publish_texts_and_nothing_else_of_sns(template):
    sns = [
        s
        for s in _policy_statements(template)
        if any(a.startswith("sns:") for a in as_list(s["Action"]))
    ]
    assert [(s["Sid"], s["Action"], s["Resource"]) for s in sns] == [
        ("SendTextsToPhoneNumbers", "sns:Publish", "*")
    ]


def test_only_end_user_messaging_of_this_account_publishes_texts_back(template):
    props = resources_of(template, "AWS::SNS::TopicPolicy")["InboundSmsTopicPolicy"]["Properties"]
    assert props["Topics"] == [{"Ref": "InboundSmsTopic"}]
    allow, deny = props["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "sms-voice.amazonaws.com"}
    assert allow["Action"] == "sns:Publish" and allow["Resource"] == {"Ref": "InboundSmsTopic"}
    assert allow["Condition"]["StringEquals"] == {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_texts_back_are_delivered_to_the_signed_route_over_https(template):
    subscription = resources_of(template, "AWS::SNS::Subscription")["InboundSmsSubscription"]
    props = subscription["Properties"]
    assert props["TopicArn"] == {"Ref": "InboundSmsTopic"}
    assert props["Protocol"] == "https"
    assert props["Endpoint"] == {"Fn::Sub": "${PortalBaseUrl}/webhooks/sms"}
    retries = props["DeliveryPolicy"]["healthyRetryPolicy"]
    assert retries["numRetries"] >= 30 and retries["maxDelayTarget"] >= 300
    output = template["Outputs"]["InboundSmsTopicArn"]
    assert output["Value"] == {"Ref": "InboundSmsTopic"}
    assert "PORTAL_SMS_INBOUND_TOPIC_ARN" in output["Description"]
