#!/usr/bin/env python3
"""Generates crates/core/data/aws_catalog.txt: which CloudTrail eventSource
(`iam.amazonaws.com`) has which eventNames (`CreateUser`, ...).

`ctrules check` uses the file to catch rules that can never match: an
eventSource no service has, an eventName its eventSource never logs, an
eventName no service has. The compiler embeds the file (include_str! in
crates/core/src/catalog.rs), so the generated file is committed and the
build needs neither Python nor botocore.

Where the data comes from
-------------------------
AWS's own service models, as shipped by botocore (the data package of the
AWS SDK for Python) in `botocore/data/<service>/<api-version>/service-2.json[.gz]`.
For each service, the latest API version is read:

- the eventSource is `<signingName>.amazonaws.com` (`endpointPrefix` when
  the model has no signingName). The signing name is the service principal
  CloudTrail writes: `s3control` signs as `s3` and logs as
  `s3.amazonaws.com`, `ses`/`sesv2` (endpoint `email`) as
  `ses.amazonaws.com`, `bedrock-runtime` as `bedrock.amazonaws.com`.
  `SOURCE_OVERRIDES` below corrects the few models where that rule gives a
  name CloudTrail does not use, and adds aliases;
- the eventNames are the operation names, plus the versioned name a model
  gives (CloudFront's `UpdateDistribution2020_05_31`), plus Lambda's dated
  names (`UpdateFunctionCode20150331v2`, see `lambda_names`).

CloudTrail also logs events that are not API operations (console sign-in,
the IAM Identity Center portal, service events) and spells a few S3
operations its own way. Those are kept by hand in `SUPPLEMENT` below, each
with where it is seen. A source in `OPEN_SOURCES` is known, but its names
are not all known: any eventName is accepted with it.

The output has one line per eventSource, `SOURCE NAME NAME ...`, sorted;
an open source ends with `*`. Then one line per alias, `= ALIAS SOURCE`:
a name that looks like a service's eventSource but is not the one
CloudTrail writes (`sso-admin.amazonaws.com`, `email.amazonaws.com`, from
the model's directory and endpoint prefix), for "did you mean". Lines
starting with `#` are comments.

How to regenerate
-----------------
    python3 -m venv /tmp/bc-venv && /tmp/bc-venv/bin/pip install botocore==1.44.5
    python3 tools/gen_aws_catalog.py --botocore-data /tmp/bc-venv/lib/python3*/site-packages/botocore/data

or, without a venv, unzip the wheel:

    pip download botocore==1.44.5 --no-deps -d /tmp/bc
    python3 -m zipfile -e /tmp/bc/botocore-1.44.5-py3-none-any.whl /tmp/bc/x
    python3 tools/gen_aws_catalog.py --botocore-data /tmp/bc/x/botocore/data

Then run `cargo test -p ctrules-core -p ctrules-compiler`: the tests check
that every (eventSource, eventName) of the fixture events is known.
`--check-events DIR` reports the pairs of the CloudTrail events under DIR
that the catalog lacks (the script itself never fails on them). Standard
library only.
"""

import argparse
import gzip
import json
import os
import re
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "core", "data", "aws_catalog.txt")

# Service models whose signing name is not the eventSource CloudTrail
# writes, or that CloudTrail logs under more than one name.
SOURCE_OVERRIDES = {
    # IAM Identity Center portal: signs as `awsssoportal`, logged as sso.
    "sso": ["sso.amazonaws.com"],
    # Pinpoint signs as `mobiletargeting`; CloudTrail's examples show
    # pinpoint.amazonaws.com. Both are accepted.
    "pinpoint": ["pinpoint.amazonaws.com", "mobiletargeting.amazonaws.com"],
    # RDS Data API: signs as `rds-data`, logged as rdsdata.
    "rds-data": ["rdsdata.amazonaws.com", "rds-data.amazonaws.com"],
    # Directory buckets log their management events as s3express.
    "s3": ["s3.amazonaws.com", "s3express.amazonaws.com"],
}

# Known eventSources whose eventNames are not (all) in any model: any
# eventName is accepted with them.
OPEN_SOURCES = [
    "billingconsole.amazonaws.com",  # the Billing console's own calls (AwsConsoleAction)
    "cloudshell.amazonaws.com",  # CloudShell's console API
    "ec2messages.amazonaws.com",  # SSM agent's message channel (SendHeartbeat, GetMessages, ...)
    "macie.amazonaws.com",  # Macie Classic, retired; its model is gone from botocore
    "ssmmessages.amazonaws.com",  # Session Manager channels (CreateControlChannel, OpenDataChannel, ...)
    "sso-directory.amazonaws.com",  # IAM Identity Center's directory console API
]

# Events CloudTrail logs that are not operations of the service's model.
SUPPLEMENT = {
    # AWS console sign-in events (CloudTrail User Guide, "AWS console sign-in events").
    "signin.amazonaws.com": [
        "ConsoleLogin", "CheckMfa", "ExternalIdPDirectoryLogin", "GetSigninToken",
        "PasswordUpdated", "SwitchRole", "RenewRole", "ConsoleLogout",
        "UserAuthentication", "CredentialChallenge", "CredentialVerification",
        "FederatedConsoleLogin",
    ],
    # IAM Identity Center sign-in and portal events (IAM Identity Center User
    # Guide, "IAM Identity Center sign-in events" and portal calls).
    "sso.amazonaws.com": [
        "Authenticate", "Federate", "ListApplications", "ListProfilesForApplication",
        "CreateToken", "Logout", "GetRoleCredentials", "ListAccounts", "ListAccountRoles",
        "UserAuthentication", "CredentialChallenge", "CredentialVerification",
        "ListApplicationInstances", "ListApplicationInstanceCertificates",
        "ListPermissionSets", "ListDirectoryAssociations", "DescribeRegisteredRegions",
        "GetSSOStatus", "ListProfiles",
    ],
    # Amazon S3 CloudTrail events named unlike the API operation (S3 User
    # Guide, "Amazon S3 CloudTrail events"), and the POST upload.
    "s3.amazonaws.com": [
        "GetBucketLifecycle", "PutBucketLifecycle", "GetBucketNotification",
        "PutBucketNotification", "GetBucketPublicAccessBlock", "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock", "GetAccountPublicAccessBlock",
        "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock",
        "GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration",
        "GetAccelerateConfiguration", "PutAccelerateConfiguration", "PostObject",
        "PreflightRequest",
    ],
    # AWS Organizations' service event for CreateAccount's outcome.
    "organizations.amazonaws.com": ["CreateAccountResult"],
    # KMS automatic key rotation, a service event (CloudTrail User Guide,
    # "AWS service events").
    "kms.amazonaws.com": ["RotateKey"],
    # CloudTrail's service-linked channels (CloudTrail User Guide,
    # "Viewing service-linked channels").
    "cloudtrail.amazonaws.com": ["CreateServiceLinkedChannel", "UpdateServiceLinkedChannel", "DeleteServiceLinkedChannel"],
    # Bedrock console calls for model access (seen in Stratus Red Team's
    # bedrock-invoke-model log).
    "bedrock.amazonaws.com": ["PutFoundationModelEntitlement"],
    # Calls the SSM agent makes (seen in public detection tests).
    "ssm.amazonaws.com": ["UpdateInstanceInformation", "ListInstanceAssociations", "UpdateInstanceAssociationStatus", "PutInventory", "PutComplianceItems",
                          # A hybrid node registering with an activation code (Systems Manager User Guide, "Logging AWS Systems Manager API calls with CloudTrail").
                          "RegisterManagedInstance"],
    # EC2 service events (CloudTrail User Guide, "AWS service events").
    "ec2.amazonaws.com": ["SharedSnapshotCopyInitiated", "SharedSnapshotVolumeCreated"],
    # The Session Manager and SSM agent channels: the names seen in logs.
    "ssmmessages.amazonaws.com": ["CreateControlChannel", "CreateDataChannel", "OpenControlChannel", "OpenDataChannel"],
    "ec2messages.amazonaws.com": ["AcknowledgeMessage", "DeleteMessage", "FailMessage", "GetEndpoint", "GetMessages", "SendReply", "SendHeartbeat"],
    "billingconsole.amazonaws.com": ["GetAlternateContact", "GetContactInformation"],
}


def latest_model(service_dir):
    versions = sorted(
        v for v in os.listdir(service_dir)
        if os.path.isdir(os.path.join(service_dir, v)) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)
    )
    for version in reversed(versions):
        for name in ("service-2.json.gz", "service-2.json"):
            path = os.path.join(service_dir, version, name)
            if os.path.exists(path):
                opener = gzip.open if name.endswith(".gz") else open
                with opener(path, "rt", encoding="utf-8") as f:
                    return version, json.load(f)
    return None, None


def lambda_names(op, model):
    """Lambda logs an operation with the date of its API path, sometimes
    with a `v2`: AddPermission20150331v2 (Lambda Developer Guide, "Logging
    Lambda API calls using CloudTrail"). The plain name is kept too."""
    uri = model.get("http", {}).get("requestUri", "")
    m = re.match(r"/(\d{4})-(\d{2})-(\d{2})/", uri)
    if not m:
        return [op]
    date = "".join(m.groups())
    return [op, op + date, op + date + "v2"]


def catalog(data_dir):
    sources = {}
    aliases = {}
    services = 0
    for service in sorted(os.listdir(data_dir)):
        path = os.path.join(data_dir, service)
        if not os.path.isdir(path):
            continue
        version, model = latest_model(path)
        if model is None:
            continue
        services += 1
        meta = model["metadata"]
        signing = (meta.get("signingName") or meta["endpointPrefix"]).lower()
        names = SOURCE_OVERRIDES.get(service, [signing + ".amazonaws.com"])
        ops = set()
        for op, spec in model["operations"].items():
            if service == "lambda":
                ops.update(lambda_names(op, spec))
            else:
                ops.add(op)
            if spec.get("name", op) != op:
                ops.add(spec["name"])
        for name in names:
            sources.setdefault(name, set()).update(ops)
        for alias in (service, meta["endpointPrefix"]):
            aliases.setdefault(alias.lower() + ".amazonaws.com", names[0])
    for name, extra in SUPPLEMENT.items():
        sources.setdefault(name, set()).update(extra)
    for name in OPEN_SOURCES:
        sources.setdefault(name, set())
    aliases = {a: s for a, s in aliases.items() if a not in sources}
    return sources, aliases, services


def read_events(root):
    """(eventSource, eventName) pairs of the CloudTrail records under root:
    `{"Records": [...]}`, JSON arrays, single records or NDJSON."""
    pairs = set()
    for dirpath, _, files in os.walk(root):
        for file in files:
            if not file.endswith((".json", ".ndjson", ".json.gz")):
                continue
            path = os.path.join(dirpath, file)
            opener = gzip.open if file.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                text = f.read()
            try:
                docs = [json.loads(text)]
            except ValueError:
                docs = []
                for line in text.splitlines():
                    try:
                        docs.append(json.loads(line))
                    except ValueError:
                        pass
            for doc in docs:
                if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
                    records = doc["Records"]
                elif isinstance(doc, dict) and isinstance(doc.get("tests"), list):
                    records = [t.get("event") for t in doc["tests"] if isinstance(t, dict)]
                elif isinstance(doc, dict) and isinstance(doc.get("event"), dict):
                    records = [doc["event"]]
                elif isinstance(doc, list):
                    records = doc
                else:
                    records = [doc]
                for r in records:
                    if isinstance(r, dict) and isinstance(r.get("eventSource"), str) and isinstance(r.get("eventName"), str):
                        pairs.add((r["eventSource"], r["eventName"]))
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--botocore-data", required=True, help="botocore's data directory")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check-events", action="append", default=[], metavar="DIR",
                    help="report the eventSource/eventName pairs of the events under DIR that the catalog lacks")
    args = ap.parse_args()

    version = "unknown"
    init = os.path.join(args.botocore_data, "..", "__init__.py")
    if os.path.exists(init):
        m = re.search(r"__version__ = '([^']+)'", open(init, encoding="utf-8").read())
        version = m.group(1) if m else version
    sources, aliases, services = catalog(args.botocore_data)
    open_sources = set(OPEN_SOURCES)
    lines = [
        "# CloudTrail eventSource, then the eventNames it logs. Generated by",
        f"# tools/gen_aws_catalog.py from botocore {version} ({services} service models) and",
        "# the script's hand-kept supplement; do not edit. `*` ends a source whose",
        "# names are not all known. `= ALIAS SOURCE`: a name CloudTrail does not",
        "# write for that source.",
    ]
    for source in sorted(sources):
        names = sorted(sources[source])
        if source in open_sources:
            names.append("*")
        lines.append(" ".join([source] + names))
    for alias in sorted(aliases):
        lines.append(f"= {alias} {aliases[alias]}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    ops = sum(len(v) for v in sources.values())
    distinct = len(set().union(*sources.values()))
    print(f"{args.out}: {len(sources)} eventSources, {ops} (source, name) pairs, "
          f"{distinct} distinct eventNames, {len(aliases)} aliases, "
          f"{os.path.getsize(args.out)} bytes", file=sys.stderr)

    for root in args.check_events:
        pairs = read_events(root)
        missing = sorted(
            (s, n) for s, n in pairs if s not in open_sources and n not in sources.get(s, ())
        )
        print(f"{root}: {len(pairs)} pairs, {len(pairs) - len(missing)} known, {len(missing)} not in the catalog", file=sys.stderr)
        for s, n in missing:
            print(f"  {s} {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
