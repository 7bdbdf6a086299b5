#!/usr/bin/env python3
"""Deterministic generator of a realistic CloudTrail corpus for the benchmark.

    python3 bench/gen_corpus.py --out DIR [--raw-mb 80] [--seed 1]
    python3 bench/gen_corpus.py --single-file FILE.json.gz --raw-mb 200 [--seed 1]

The first form writes gzipped CloudTrail log files, `{"Records":[...]}` on one
line as CloudTrail writes them, in the AWSLogs/<account>/CloudTrail/<region>/
YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz
layout, until the raw (decompressed) JSON reaches --raw-mb megabytes (10^6
bytes), and DIR/.manifest.json describing them (a dot-file, which ctrules
run and the baselines ignore). Each file holds 100 to 5,000 events
(log-uniform). The second form writes one single file of that size,
streamed (memory stays small whatever the size), and FILE.info.json.

Event shapes come from the real events of tests/fixtures/corpus/cloudtrail
(request parameters, response elements, resources, additional data), grouped
by eventSource/eventName and drawn with weights that favour the high-volume
calls of a real trail (STS, KMS, EC2 and S3 reads...). Each event is made by
one principal of a per-account pool (picked with a Zipf-like skew, with a
stable identity, access key, addresses and SDK): AssumedRole, IAMUser,
AWSService, IAM Identity Center roles, Root, FederatedUser, SAML and
web-identity users, AWSAccount. Source addresses are public IPv4 (with
repeats, some in the networks of the MaxMind test database so that geoip()
finds them), IPv6, VPC-private, "AWS Internal" and service names. Event
time, ids, region and account are set per file and event. About
1 event in 400 is a big one (50-250 KB: RunInstances of many instances, a
long Athena query, a wide Glue table, a mass TerminateInstances).

The same seed and arguments give byte-identical files (gzip mtime is 0).
"""

import argparse
import datetime as dt
import gzip
import hashlib
import json
import math
import os
import random
import re
import sys

GENERATOR_VERSION = 4

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "corpus", "cloudtrail")

# Fields CloudTrail writes that a template may carry over as they are.
CARRIED = [
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "errorCode",
    "errorMessage",
    "apiVersion",
    "eventType",
    "readOnly",
]

ACCOUNT_PLACEHOLDER = "000000000000"

# Share of events per service in a busy organisation trail (management
# events plus some S3 data events), and the rest spread evenly.
SOURCE_WEIGHT = {
    "sts.amazonaws.com": 18,
    "kms.amazonaws.com": 14,
    "ec2.amazonaws.com": 14,
    "s3.amazonaws.com": 12,
    "ssm.amazonaws.com": 7,
    "iam.amazonaws.com": 5,
    "lambda.amazonaws.com": 4,
    "logs.amazonaws.com": 3,
    "secretsmanager.amazonaws.com": 3,
    "rds.amazonaws.com": 3,
    "dynamodb.amazonaws.com": 2,
    "ecr.amazonaws.com": 2,
    "signin.amazonaws.com": 1.5,
    "cloudtrail.amazonaws.com": 1,
    "config.amazonaws.com": 1,
    "ec2messages.amazonaws.com": 1,
    "ssmmessages.amazonaws.com": 1,
    "sso.amazonaws.com": 0.7,
    "organizations.amazonaws.com": 0.5,
}
OTHER_SOURCE_WEIGHT = 0.4
READ_PREFIXES = ("Get", "Describe", "List", "Decrypt", "GenerateDataKey", "AssumeRole",
                 "Head", "Lookup", "CreateLogStream", "SendHeartbeat", "UpdateInstanceInformation",
                 "CreateControlChannel", "Batch")
# Sibling calls with the same shape as a call in the fixtures: a real trail
# is dominated by a few high-volume names.
ALIASES = {
    ("kms.amazonaws.com", "Decrypt"): ["GenerateDataKey", "Encrypt", "ReEncrypt"],
    ("s3.amazonaws.com", "GetObject"): ["HeadObject"],
    ("s3.amazonaws.com", "PutObject"): ["CreateMultipartUpload"],
    ("ec2.amazonaws.com", "DescribeInstances"): ["DescribeVolumes", "DescribeSnapshots", "DescribeSubnets",
                                                  "DescribeNetworkInterfaces", "DescribeImages"],
    ("sts.amazonaws.com", "GetCallerIdentity"): [],
    ("logs.amazonaws.com", "CreateLogStream"): ["CreateLogGroup", "DescribeLogGroups"],
    ("dynamodb.amazonaws.com", "DescribeTable"): ["DescribeContinuousBackups", "ListTagsOfResource"],
    ("ecr.amazonaws.com", "PutImage"): ["BatchGetImage", "GetDownloadUrlForLayer", "GetAuthorizationToken"],
}

REGIONS = [("us-east-1", 50), ("eu-west-1", 20), ("us-west-2", 20), ("ap-southeast-2", 10)]

# Addresses inside networks of tests/fixtures/mmdb/GeoIP2-Country-Test.mmdb
# (MaxMind's test data), so that geoip() finds a country for some events.
GEOIP_TEST_ADDRESSES = [
    "81.2.69.142", "81.2.69.160", "81.2.69.170", "81.2.69.192", "89.160.20.112", "89.160.20.130",
    "2.125.160.216", "216.160.83.58", "175.16.199.5", "67.43.156.7", "202.196.224.10",
    "149.101.100.4", "1.128.0.9", "2001:218::1a", "2001:220::5", "2001:230::9",
]
SERVICES_INVOKING = [
    "lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com", "cloudformation.amazonaws.com",
    "autoscaling.amazonaws.com", "s3.amazonaws.com", "config.amazonaws.com", "elasticloadbalancing.amazonaws.com",
    "ssm.amazonaws.com", "cloudtrail.amazonaws.com", "eks.amazonaws.com", "backup.amazonaws.com",
    "events.amazonaws.com", "states.amazonaws.com", "glue.amazonaws.com", "access-analyzer.amazonaws.com",
]
HIGH_VOLUME_SOURCES = {"sts.amazonaws.com", "kms.amazonaws.com", "logs.amazonaws.com", "s3.amazonaws.com",
                       "ec2.amazonaws.com", "ecr.amazonaws.com", "dynamodb.amazonaws.com", "ssm.amazonaws.com"}
POOL_SIZE = 400
# aws-cli, Boto3, Go v2, Java, Terraform, Node.js (Lambda), Go v1 (ECS), browser (console)
AGENT_WEIGHTS = [18, 30, 15, 9, 9, 7, 6, 6]
BROWSERS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "AWS Internal"]
PEOPLE = ["christophe", "Alice", "JaneDoe", "JohnDoe", "bob.martin", "wei.chen", "priya.n", "ops-admin",
          "maria.garcia", "deploy-bot", "tkowalski", "sam", "jenkins", "analyst1", "olivia.smith"]
SERVICE_ROLES = ["lambda-exec-orders", "lambda-exec-thumbnails", "eks-node-group-prod", "ecsTaskRole-api",
                 "ecsTaskExecutionRole", "AmazonSSMRoleForInstancesQuickSetup", "github-actions-deploy",
                 "terraform-apply", "datadog-integration", "OrganizationAccountAccessRole",
                 "AWSServiceRoleForConfig", "AWSServiceRoleForAutoScaling", "backup-service-role",
                 "aws-controltower-AdministratorExecutionRole", "karpenter-node", "airflow-worker"]
SSO_SETS = ["AdministratorAccess", "ReadOnlyAccess", "DevAdmin", "PowerUserAccess", "SecurityAudit", "Billing"]



def weighted_pick(rng, weighted):
    """One value of `weighted` ([(value, weight), ...]), drawn from `rng`.
    Written out rather than random.choices so the corpus and rules stay
    byte-identical across Python versions."""
    total = sum(w for _, w in weighted)
    r = rng.random() * total
    for v, w in weighted:
        r -= w
        if r < 0:
            return v
    return weighted[-1][0]

class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        rng = self.rng
        self.accounts = ["%012d" % rng.randrange(10**11, 10**12) for _ in range(3)]
        self.groups, self.weights = load_templates()
        self.cum = list(accumulate(self.weights))
        self.public_v4 = [self._public_v4() for _ in range(3000)]
        self.public_v6 = [self._public_v6() for _ in range(400)]
        self.role_ids = {r: "AROA" + self._upper(17) for r in SERVICE_ROLES}
        self.sso_ids = {s: (self._hex(16), "AROA" + self._upper(17)) for s in SSO_SETS}
        self.user_ids = {p: ("AIDA" + self._upper(17), "AKIA" + self._upper(16)) for p in PEOPLE}
        self.stats = {"identity": {}, "source_ip": {}, "big_events": 0, "max_event_bytes": 0}
        self.build_pools()

    # --- small random pieces -------------------------------------------------
    def _upper(self, n):
        return "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))

    def _hex(self, n):
        return "%0*x" % (n, self.rng.getrandbits(4 * n))

    def uuid(self):
        h = self._hex(32)
        return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) % 4], h[17:20], h[20:])

    def _public_v4(self):
        rng = self.rng
        while True:
            a = rng.randrange(1, 224)
            if a in (10, 100, 127, 169, 172, 192, 198, 203) or a >= 224:
                continue
            return "%d.%d.%d.%d" % (a, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))

    def _public_v6(self):
        rng = self.rng
        prefix = rng.choice(["2600:1f18", "2a05:d018", "2a02:26f7", "2607:f8b0", "2a01:4f8", "2406:da1c"])
        return "%s:%x:%x:%x:%x:%x:%x" % (prefix, *(rng.randrange(65536) for _ in range(6)))

    def pick(self, weighted):
        return weighted_pick(self.rng, weighted)

    def count(self, kind, key):
        d = self.stats[kind]
        d[key] = d.get(key, 0) + 1

    # --- principals: identity, addresses, agent ------------------------------
    # A trail is dominated by a few principals: each account gets a pool of
    # principals with stable keys, session names, addresses and SDKs, drawn
    # with a Zipf-like skew; AWS services acting on their own are a second pool.
    def build_pools(self):
        self.pools, self.service_pools = {}, {}
        for acct in self.accounts:
            self.pools[acct] = [self.new_principal(acct, self.pick(
                [("AssumedRole", 55), ("IAMUser", 20), ("SSO", 14), ("AWSService", 4), ("Root", 1.5),
                 ("FederatedUser", 1.5), ("WebIdentityUser", 1.5), ("SAMLUser", 1), ("AWSAccount", 1.5)]))
                for _ in range(POOL_SIZE)]
            self.service_pools[acct] = [self.new_principal(acct, "AWSService", s) for s in SERVICES_INVOKING]

    def _assumed_role(self, acct, rid, role, role_path, session):
        """userIdentity of a session of role `role` (IAM path `role_path`)."""
        return {"type": "AssumedRole", "principalId": "%s:%s" % (rid, session),
                "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (acct, role, session),
                "accountId": acct, "accessKeyId": "ASIA" + self._upper(16),
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid,
                                                     "arn": "arn:aws:iam::%s:role/%s%s" % (acct, role_path, role),
                                                     "accountId": acct, "userName": role},
                                   "webIdFederationData": {}}}

    def new_principal(self, acct, kind, invoker=None):
        rng = self.rng
        mfa = "true" if rng.random() < 0.3 else "false"
        session_ctx = True
        if kind == "AWSService":
            invoker = invoker or rng.choice(SERVICES_INVOKING)
            ident = {"type": "AWSService", "invokedBy": invoker}
            session_ctx = False
        elif kind == "AssumedRole":
            role = rng.choice(SERVICE_ROLES)
            session = rng.choice(["i-0" + self._hex(16), "botocore-session-%d" % rng.randrange(10**9, 10**10),
                                  "aws-go-sdk-%d" % rng.randrange(10**18, 10**19), rng.choice(PEOPLE),
                                  "GitHubActions", "%d" % rng.randrange(10**18, 10**19)])
            rid = self.role_ids[role]
            ident = self._assumed_role(acct, rid, role, "", session)
            if rng.random() < 0.15:
                ident["sessionContext"]["ec2RoleDelivery"] = "2.0"
            if rng.random() < 0.1:
                invoker = rng.choice(SERVICES_INVOKING)
                ident["invokedBy"] = invoker
        elif kind == "SSO":
            ps = rng.choice(SSO_SETS)
            suffix, rid = self.sso_ids[ps]
            role = "AWSReservedSSO_%s_%s" % (ps, suffix)
            email = "%s@example.com" % rng.choice(PEOPLE).lower()
            mfa = "false"
            ident = self._assumed_role(acct, rid, role, "aws-reserved/sso.amazonaws.com/", email)
        elif kind == "IAMUser":
            person = rng.choice(PEOPLE)
            aid, key = self.user_ids[person]
            ident = {"type": "IAMUser", "principalId": aid, "arn": "arn:aws:iam::%s:user/%s" % (acct, person),
                     "accountId": acct, "accessKeyId": key, "userName": person}
            if rng.random() < 0.3:
                ident["accessKeyId"] = "ASIA" + self._upper(16)
                ident["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {}}
            else:
                session_ctx = False
        elif kind == "Root":
            ident = {"type": "Root", "principalId": acct, "arn": "arn:aws:iam::%s:root" % acct,
                     "accountId": acct, "accessKeyId": "ASIA" + self._upper(16),
                     "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {}}}
        elif kind == "FederatedUser":
            person = rng.choice(PEOPLE)
            aid, _ = self.user_ids["deploy-bot"]
            mfa = "false"
            ident = {"type": "FederatedUser", "principalId": "%s:%s" % (acct, person),
                     "arn": "arn:aws:sts::%s:federated-user/%s" % (acct, person), "accountId": acct,
                     "accessKeyId": "ASIA" + self._upper(16),
                     "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": aid,
                                                          "arn": "arn:aws:iam::%s:user/deploy-bot" % acct,
                                                          "accountId": acct, "userName": "deploy-bot"},
                                        "webIdFederationData": {}}}
        elif kind == "WebIdentityUser":
            sub = "repo:example-org/%s:ref:refs/heads/main" % rng.choice(["api", "web", "infra", "data"])
            ident = {"type": "WebIdentityUser", "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:%s" % sub,
                     "userName": sub, "identityProvider": "token.actions.githubusercontent.com"}
            session_ctx = False
        elif kind == "SAMLUser":
            person = rng.choice(PEOPLE)
            ident = {"type": "SAMLUser", "principalId": "SAMPLEMGNmMDkyNzk=:%s@example.com" % person.lower(),
                     "userName": "%s@example.com" % person.lower(), "identityProvider": "SAMPLEMGNmMDkyNzk="}
            session_ctx = False
        else:  # AWSAccount
            other = "%012d" % rng.randrange(10**11, 10**12)
            ident = {"type": "AWSAccount", "principalId": "AIDA" + self._upper(17), "accountId": other}
            if rng.random() < 0.5:
                invoker = rng.choice(SERVICES_INVOKING)
                ident["invokedBy"] = invoker
            session_ctx = False
        if invoker is not None and (kind == "AWSService" or rng.random() < 0.8):
            ips = [("service name", invoker), ("AWS Internal", "AWS Internal")]
        else:
            ips = [self.address() for _ in range(rng.choice([1, 1, 2, 3]))]
        return {"kind": kind, "ident": ident, "invoker": invoker, "ips": ips, "mfa": mfa,
                "session_ctx": session_ctx, "session_age": rng.randrange(1, 600),
                "agent": self.pick([(i, w) for i, w in enumerate(AGENT_WEIGHTS)]), "v": rng.randrange(1, 160),
                "browser": rng.randrange(4)}

    def address(self):
        rng = self.rng
        which = self.pick([("public IPv4", 66), ("GeoIP test networks", 10), ("IPv6", 7),
                           ("VPC private", 11), ("AWS Internal", 6)])
        if which == "public IPv4":
            return which, self.public_v4[int(len(self.public_v4) * rng.random() ** 3)]
        if which == "GeoIP test networks":
            return which, rng.choice(GEOIP_TEST_ADDRESSES)
        if which == "IPv6":
            return which, self.public_v6[int(len(self.public_v6) * rng.random() ** 2)]
        if which == "VPC private":
            return which, "10.%d.%d.%d" % (rng.randrange(0, 4), rng.randrange(256), rng.randrange(1, 255))
        return which, "AWS Internal"

    def identity(self, acct, source, t):
        """(principal, userIdentity, sourceIPAddress) of one event at time t."""
        rng = self.rng
        if source in HIGH_VOLUME_SOURCES and rng.random() < 0.25:
            p = rng.choice(self.service_pools[acct])
        else:
            pool = self.pools[acct]
            p = pool[int(len(pool) * rng.random() ** 2.5)]
        ident = p["ident"]
        if p["session_ctx"]:
            ident = dict(ident)
            ctx = dict(ident["sessionContext"])
            created = (t.replace(minute=0, second=0) - dt.timedelta(minutes=p["session_age"]))
            ctx["attributes"] = {"creationDate": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "mfaAuthenticated": p["mfa"]}
            ident["sessionContext"] = ctx
        which, ip = p["ips"][0] if rng.random() < 0.85 else rng.choice(p["ips"])
        self.count("identity", p["kind"])
        self.count("source_ip", which)
        return p, ident, ip

    def user_agent(self, p, source, name):
        if p["kind"] == "AWSService" and p["invoker"]:
            return p["invoker"]
        if source == "signin.amazonaws.com" or p["agent"] == len(AGENT_WEIGHTS) - 1:
            return BROWSERS[p["browser"]]
        svc = source.split(".")[0]
        v = p["v"]
        return [
            "aws-cli/2.15.%d Python/3.11.8 Linux/5.10.%d-218.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off command/%s.%s" % (v % 60, v, svc, name.lower()),
            "Boto3/1.34.%d md/Botocore#1.34.%d ua/2.0 os/linux#5.10.219-208.866.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.%d" % (v, v, v),
            "aws-sdk-go-v2/1.30.%d os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/%s#1.%d.0" % (v % 5, svc, v),
            "aws-sdk-java/2.25.%d Linux/5.10.220 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy" % v,
            "APN/1.0 HashiCorp/1.0 Terraform/1.8.%d (+https://www.terraform.io) terraform-provider-aws/5.58.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.1 ua/2.0 os/linux lang/go#1.22.4 api/%s#1.%d.0" % (v % 6, svc, v),
            "aws-sdk-nodejs/2.1651.0 linux/v18.20.3 exec-env/AWS_Lambda_nodejs18.x promise",
            "[aws-sdk-go/1.54.%d (go1.21.11; linux; amd64) exec-env/AWS_ECS_FARGATE]" % (v % 20),
        ][p["agent"]]

    # --- events ------------------------------------------------------------------
    def event(self, acct, region, t):
        rng = self.rng
        if rng.random() < 0.0025:
            return self.big_event(acct, region, t)
        i = bisect(self.cum, rng.random() * self.cum[-1])
        source, name, bodies = self.groups[i]
        body = json.loads(rng.choice(bodies).replace(ACCOUNT_PLACEHOLDER, acct))
        return self.wrap(acct, region, t, source, name, body)

    def wrap(self, acct, region, t, source, name, body):
        rng = self.rng
        p, ident, ip = self.identity(acct, source, t)
        kind = p["kind"]
        ua = self.user_agent(p, source, name)
        et = body.pop("eventType", None) or ("AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall")
        read_only = body.pop("readOnly", None)
        if read_only is None:
            read_only = name.startswith(READ_PREFIXES)
        rec = {
            "eventVersion": "1.09" if rng.random() < 0.6 else "1.08",
            "userIdentity": ident,
            "eventTime": (t - dt.timedelta(seconds=rng.randrange(300))).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        error = rng.random() < 0.04 and "errorCode" not in body
        if error:
            code = rng.choice(["AccessDenied", "Client.UnauthorizedOperation", "ThrottlingException",
                               "ResourceNotFoundException", "ValidationException"])
            rec["errorCode"] = code
            svc = source.split(".")[0]
            rec["errorMessage"] = {
                "ThrottlingException": "Rate exceeded",
                "ResourceNotFoundException": "The requested resource was not found",
                "ValidationException": "1 validation error detected: Value at '%s' failed to satisfy constraint" % name,
            }.get(code, "User: %s is not authorized to perform: %s:%s because no identity-based policy allows the %s:%s action"
                  % (ident.get("arn", "arn:aws:iam::%s:root" % acct), svc, name, svc, name))
        for k in ("errorCode", "errorMessage"):
            if k in body:
                rec[k] = body.pop(k)
        rec["requestParameters"] = body.pop("requestParameters", None)
        rec["responseElements"] = None if error else body.pop("responseElements", None)
        body.pop("responseElements", None)
        if "additionalEventData" in body:
            rec["additionalEventData"] = body.pop("additionalEventData")
        rec["requestID"] = self.uuid()
        rec["eventID"] = self.uuid()
        rec["readOnly"] = read_only
        if "resources" in body:
            rec["resources"] = body.pop("resources")
        rec["eventType"] = et
        rec["managementEvent"] = not (source == "s3.amazonaws.com" and name in ("GetObject", "HeadObject", "PutObject", "DeleteObject", "CopyObject", "CreateMultipartUpload"))
        rec["recipientAccountId"] = acct
        rec.update(body)  # sharedEventID, vpcEndpointId, serviceEventDetails...
        rec["eventCategory"] = "Management" if rec["managementEvent"] else "Data"
        if kind != "AWSService" and ip not in ("AWS Internal",) and not ip.endswith("amazonaws.com"):
            rec["tlsDetails"] = {"tlsVersion": "TLSv1.3" if rng.random() < 0.7 else "TLSv1.2",
                                 "cipherSuite": rng.choice(["TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"]),
                                 "clientProvidedHostHeader": "%s.%s.amazonaws.com" % (source.split(".")[0], region)}
        if ua.startswith("Mozilla"):
            rec["sessionCredentialFromConsole"] = "true"
        return rec

    # --- big events (50 KB and more) -------------------------------------------
    def big_event(self, acct, region, t):
        rng = self.rng
        kind = rng.choice(["run", "athena", "glue", "terminate"])
        az = region + rng.choice("abc")
        vpc, subnet, sg = "vpc-0" + self._hex(16), "subnet-0" + self._hex(16), "sg-0" + self._hex(16)
        if kind == "run":
            n = rng.randrange(25, 110)
            ami, itype = "ami-0" + self._hex(16), rng.choice(["m5.large", "c6i.xlarge", "r6g.2xlarge", "t3.medium"])
            launch = int(t.timestamp() * 1000)
            items = []
            for k in range(n):
                ip = "10.%d.%d.%d" % (rng.randrange(4), rng.randrange(256), rng.randrange(1, 255))
                dns = "ip-%s.ec2.internal" % ip.replace(".", "-")
                items.append({
                    "instanceId": "i-0" + self._hex(16), "imageId": ami, "currentInstanceBootMode": "legacy-bios",
                    "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": dns, "amiLaunchIndex": k,
                    "productCodes": {}, "instanceType": itype, "launchTime": launch,
                    "placement": {"availabilityZone": az, "tenancy": "default"}, "monitoring": {"state": "disabled"},
                    "subnetId": subnet, "vpcId": vpc, "privateIpAddress": ip,
                    "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64",
                    "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
                    "virtualizationType": "hvm", "hypervisor": "xen",
                    "tagSet": {"items": [{"key": "Name", "value": "batch-worker"}, {"key": "team", "value": "data"},
                                         {"key": "aws:autoscaling:groupName", "value": "batch-workers-asg"}]},
                    "groupSet": {"items": [{"groupId": sg, "groupName": "batch-workers"}]}, "sourceDestCheck": True,
                    "networkInterfaceSet": {"items": [{
                        "networkInterfaceId": "eni-0" + self._hex(16), "subnetId": subnet, "vpcId": vpc,
                        "ownerId": acct, "status": "in-use", "macAddress": "0a:%s" % ":".join(self._hex(2) for _ in range(5)),
                        "privateIpAddress": ip, "privateDnsName": dns, "sourceDestCheck": True, "interfaceType": "interface",
                        "groupSet": {"items": [{"groupId": sg, "groupName": "batch-workers"}]},
                        "attachment": {"attachmentId": "eni-attach-0" + self._hex(16), "deviceIndex": 0, "networkCardIndex": 0,
                                       "status": "attaching", "attachTime": launch, "deleteOnTermination": True},
                        "privateIpAddressesSet": {"item": [{"privateIpAddress": ip, "privateDnsName": dns, "primary": True}]},
                        "ipv6AddressesSet": {}, "tagSet": {}}]},
                    "ebsOptimized": False, "enaSupport": True, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                    "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                    "enclaveOptions": {"enabled": False},
                    "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2,
                                        "httpEndpoint": "enabled", "httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"},
                    "maintenanceOptions": {"autoRecovery": "default"},
                    "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False,
                                              "enableResourceNameDnsAAAARecord": False}})
            body = {"requestParameters": {"instancesSet": {"items": [{"imageId": ami, "minCount": n, "maxCount": n}]},
                                          "userData": "<sensitiveDataRemoved>", "instanceType": itype, "blockDeviceMapping": {},
                                          "monitoring": {"enabled": False}, "disableApiTermination": False, "disableApiStop": False,
                                          "clientToken": self.uuid(), "subnetId": subnet,
                                          "launchTemplate": {"launchTemplateId": "lt-0" + self._hex(16), "version": "$Latest"}},
                    "responseElements": {"requestId": self.uuid(), "reservationId": "r-0" + self._hex(16), "ownerId": acct,
                                         "groupSet": {}, "instancesSet": {"items": items}, "requesterId": "940372691376"}}
            rec = self.wrap(acct, region, t, "ec2.amazonaws.com", "RunInstances", body)
        elif kind == "athena":
            cols = ["event_time", "user_arn", "source_ip", "event_name", "request_id", "account_id", "region", "bytes", "status"]
            parts = ["-- nightly audit report\nWITH base AS (\n  SELECT \"eventtime\", \"useridentity\".\"arn\" AS \"user_arn\", \"sourceipaddress\"\n  FROM \"cloudtrail_logs\".\"trail\"\n  WHERE \"eventtime\" > '2024-01-01T00:00:00Z'\n)\n"]
            target = rng.randrange(50_000, 160_000)
            size = len(parts[0])
            k = 0
            while size < target:
                c = rng.choice(cols)
                line = "UNION ALL SELECT '%s' AS \"metric_%d\", count(DISTINCT \"%s\") AS \"n\", approx_percentile(\"bytes\", 0.99) FROM base WHERE \"%s\" LIKE '%%%s%%' AND \"region\" IN ('us-east-1', 'eu-west-1') GROUP BY 1\n" % (c, k, c, c, self._hex(6))
                parts.append(line)
                size += len(line)
                k += 1
            body = {"requestParameters": {"queryString": "".join(parts), "clientRequestToken": self.uuid(),
                                          "queryExecutionContext": {"catalog": "AwsDataCatalog", "database": "cloudtrail_logs"},
                                          "resultConfiguration": {"outputLocation": "s3://athena-results-%s/reports/" % acct},
                                          "workGroup": "primary"},
                    "responseElements": {"queryExecutionId": self.uuid()}}
            rec = self.wrap(acct, region, t, "athena.amazonaws.com", "StartQueryExecution", body)
        elif kind == "glue":
            n = rng.randrange(700, 2200)
            types = ["string", "bigint", "double", "timestamp", "boolean", "array<string>", "map<string,string>", "int"]
            columns = [{"name": "c%04d_%s" % (i, self._hex(4)), "type": rng.choice(types),
                        "comment": rng.choice(["", "from upstream", "PII: masked", "deprecated"])} for i in range(n)]
            table = "events_%s" % self._hex(6)
            body = {"requestParameters": {"catalogId": acct, "databaseName": "analytics",
                                          "tableInput": {"name": table, "owner": "hadoop", "retention": 0,
                                                         "storageDescriptor": {"columns": columns,
                                                                               "location": "s3://datalake-%s/%s/" % (acct, table),
                                                                               "inputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                                                                               "outputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                                                                               "compressed": False, "numberOfBuckets": -1,
                                                                               "serdeInfo": {"serializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                                                                                             "parameters": {"serialization.format": "1"}},
                                                                               "storedAsSubDirectories": False},
                                                         "partitionKeys": [{"name": "dt", "type": "string"}],
                                                         "tableType": "EXTERNAL_TABLE",
                                                         "parameters": {"classification": "parquet", "EXTERNAL": "TRUE"}}},
                    "responseElements": None}
            rec = self.wrap(acct, region, t, "glue.amazonaws.com", rng.choice(["CreateTable", "UpdateTable"]), body)
        else:
            n = rng.randrange(350, 1000)
            ids = ["i-0" + self._hex(16) for _ in range(n)]
            body = {"requestParameters": {"instancesSet": {"items": [{"instanceId": i} for i in ids]}},
                    "responseElements": {"requestId": self.uuid(),
                                         "instancesSet": {"items": [{"instanceId": i, "currentState": {"code": 32, "name": "shutting-down"},
                                                                     "previousState": {"code": 16, "name": "running"}} for i in ids]}}}
            rec = self.wrap(acct, region, t, "ec2.amazonaws.com", "TerminateInstances", body)
        self.stats["big_events"] += 1
        return rec


def accumulate(xs):
    total = 0.0
    for x in xs:
        total += x
        yield total


def bisect(cum, x):
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def placeholders(v, account):
    """Account ids in string values become ACCOUNT_PLACEHOLDER."""
    if isinstance(v, str):
        return account.sub(ACCOUNT_PLACEHOLDER, v)
    if isinstance(v, list):
        return [placeholders(x, account) for x in v]
    if isinstance(v, dict):
        return {k: placeholders(x, account) for k, x in v.items()}
    return v


def load_templates():
    """(eventSource, eventName, [body JSON texts]) groups and their weights."""
    events = []
    path = os.path.join(FIXTURES, "panther-analysis-tests", "events_only.ndjson")
    with open(path) as f:
        events += [json.loads(line) for line in f if line.strip()]
    for sub in ("stratus-red-team", "awsdocs-user-guide", "awsdocs-iam-user-guide"):
        d = os.path.join(FIXTURES, sub)
        for name in sorted(os.listdir(d)):
            try:
                with open(os.path.join(d, name)) as f:
                    doc = json.load(f)
            except ValueError:
                continue
            if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
                events += doc["Records"]
            elif isinstance(doc, list):
                events += doc
            else:
                events.append(doc)
    groups = {}
    account = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
    for e in events:
        if not isinstance(e, dict) or not isinstance(e.get("userIdentity"), dict):
            continue
        source, name = e.get("eventSource"), e.get("eventName")
        if not isinstance(source, str) or not isinstance(name, str) or not source.endswith(".amazonaws.com"):
            continue
        if e.get("eventCategory") == "Insight" or "digestStartTime" in e:
            continue
        body = {k: e[k] for k in CARRIED if k in e}
        text = json.dumps(placeholders(body, account), separators=(",", ":"))
        keys = [(source, name)] + [(source, alias) for alias in ALIASES.get((source, name), [])]
        for key in keys:
            bodies = groups.setdefault(key, [])
            if text not in bodies:
                bodies.append(text)
    keys = sorted(groups)
    per_source = {}
    for source, name in keys:
        per_source.setdefault(source, []).append(name)
    out, weights = [], []
    for source, name in keys:
        names = per_source[source]
        shares = [6.0 if n.startswith(READ_PREFIXES) else 1.0 for n in names]
        share = (6.0 if name.startswith(READ_PREFIXES) else 1.0) / sum(shares)
        out.append((source, name, groups[(source, name)]))
        weights.append(SOURCE_WEIGHT.get(source, OTHER_SOURCE_WEIGHT) * share)
    return out, weights


def dumps(rec):
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=True)


def write_file(path, records_text):
    """gzip (level 6, mtime 0) one {"Records":[...]} document; returns (raw, gz) sizes."""
    data = ('{"Records":[' + ",".join(records_text) + "]}").encode()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
            gz.write(data)
    return len(data), os.path.getsize(path)


def gen_tree(out, raw_mb, seed):
    g = Gen(seed)
    rng = g.rng
    target = int(raw_mb * 1_000_000)
    start = dt.datetime(2024, 7, 1, tzinfo=dt.timezone.utc)
    files, total_raw, total_gz, total_events = [], 0, 0, 0
    sizes = []
    while total_raw < target:
        acct = rng.choice(g.accounts)
        region = g.pick(REGIONS)
        t = start + dt.timedelta(days=rng.randrange(184), minutes=5 * rng.randrange(288))
        n = int(round(math.exp(rng.uniform(math.log(100), math.log(5000)))))
        texts = []
        for _ in range(n):
            s = dumps(g.event(acct, region, t))
            sizes.append(len(s))
            texts.append(s)
        name = "%s_CloudTrail_%s_%sZ_%s.json.gz" % (acct, region, t.strftime("%Y%m%dT%H%M"),
                                                   "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)))
        rel = os.path.join("AWSLogs", acct, "CloudTrail", region, t.strftime("%Y/%m/%d"), name)
        raw, gz = write_file(os.path.join(out, rel), texts)
        files.append({"path": rel, "events": n, "raw_bytes": raw, "gz_bytes": gz})
        total_raw += raw
        total_gz += gz
        total_events += n
    sizes.sort()
    manifest = {
        "generator_version": GENERATOR_VERSION, "seed": seed, "raw_mb": raw_mb,
        "files": len(files), "events": total_events, "raw_bytes": total_raw, "gz_bytes": total_gz,
        "events_per_file": {"min": min(f["events"] for f in files), "max": max(f["events"] for f in files)},
        "event_bytes": {"median": sizes[len(sizes) // 2], "p99": sizes[int(len(sizes) * 0.99)], "max": sizes[-1]},
        "events_over_50kb": sum(1 for s in sizes if s > 50_000),
        "identity_types": g.stats["identity"], "source_ip_kinds": g.stats["source_ip"],
        "file_list": files,
    }
    manifest["digest"] = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    with open(os.path.join(out, ".manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def gen_single(path, raw_mb, seed):
    g = Gen(seed)
    rng = g.rng
    target = int(raw_mb * 1_000_000)
    acct, region = g.accounts[0], "us-east-1"
    t = dt.datetime(2024, 9, 10, 14, 0, tzinfo=dt.timezone.utc)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    raw_total, events, biggest = 0, 0, 0
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
            head = b'{"Records":['
            gz.write(head)
            raw_total += len(head)
            batch = []
            while raw_total < target:
                s = dumps(g.event(acct, region, t + dt.timedelta(seconds=events // 50)))
                biggest = max(biggest, len(s))
                piece = ("," if events else "") + s
                batch.append(piece)
                raw_total += len(piece)
                events += 1
                if len(batch) >= 2000:
                    gz.write("".join(batch).encode())
                    batch.clear()
            gz.write(("".join(batch) + "]}").encode())
            raw_total += 2
    info = {"generator_version": GENERATOR_VERSION, "seed": seed, "raw_mb": raw_mb, "path": path,
            "events": events, "raw_bytes": raw_total, "gz_bytes": os.path.getsize(path),
            "max_event_bytes": biggest, "big_events": g.stats["big_events"]}
    with open(path + ".info.json", "w") as f:
        json.dump(info, f, indent=1)
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="directory of the corpus (AWSLogs/... and .manifest.json)")
    ap.add_argument("--single-file", help="write one big .json.gz file instead")
    ap.add_argument("--raw-mb", type=float, default=80.0, help="raw JSON to generate, in MB (10^6 bytes)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if bool(a.out) == bool(a.single_file):
        ap.error("give exactly one of --out and --single-file")
    if a.out:
        m = gen_tree(a.out, a.raw_mb, a.seed)
        m = {k: v for k, v in m.items() if k != "file_list"}
    else:
        m = gen_single(a.single_file, a.raw_mb, a.seed)
    json.dump(m, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
