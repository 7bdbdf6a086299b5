#!/usr/bin/env python3
"""Deterministic generator of a large, realistic rule set for the benchmark.

    python3 bench/gen_rules.py --out DIR [--rules 1000] [--seed 1]

Writes DIR/00-lists.rules (named lists and macros) and one file per AWS
service (DIR/<service>.rules), as a detection team would organise them.
The mix, per 1,000 rules (docs/benchmark.md):

- 45% `eventName == "X"`, often with one or two more tests (identity type,
  errorCode, readOnly, a request parameter, region, user agent...);
- 15% `eventName in [...]` (3 to 8 names of one service);
- 15% `eventSource == "..." and eventName startswith/like ...`;
- 10% `eventSource == "..."` with identity conditions;
- 10% rules the index cannot narrow ("always" rules): identity type,
  role-name prefixes, error codes, `within` CIDR lists, `like` on ARNs, and
  regexes (`matches`) on userAgent, ARNs and error messages;
-  5% eventName rules with a regex on a request parameter.

Actions: `set xpriority = <priority>`, `tag "..."`, `set xcategory = "..."`,
and copies of a request parameter (`set xresource = requestParameters.k`).
Event names come from the fixtures corpus (what the benchmark corpus holds)
and from a list of other real API names, so many rules are about events
that do not occur: the index should make those free. Names the AWS event
catalog (crates/core/data/aws_catalog.txt) does not know for their source,
such as the made-up ones of public detection tests, are left out, so that
`ctrules check --deny-warnings` passes.
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_corpus import load_templates, weighted_pick  # noqa: E402

EXTRA_NAMES = {
    "iam.amazonaws.com": ["CreatePolicyVersion", "DeletePolicy", "DeleteRole", "DeleteUser", "DetachRolePolicy",
                          "PutRolePolicy", "SetDefaultPolicyVersion", "UpdateAccessKey", "DeleteAccessKey",
                          "CreateGroup", "AddRoleToInstanceProfile", "CreateInstanceProfile", "DeactivateMFADevice",
                          "DeleteVirtualMFADevice", "CreateOpenIDConnectProvider", "UpdateRole", "TagRole"],
    "s3.amazonaws.com": ["PutObjectAcl", "PutBucketCors", "PutBucketWebsite", "DeleteBucketPolicy",
                         "PutBucketNotification", "PutBucketOwnershipControls", "DeleteBucketLifecycle",
                         "PutBucketTagging", "RestoreObject", "PutObjectLockConfiguration"],
    "ec2.amazonaws.com": ["CreateSnapshot", "DeleteSnapshot", "CopySnapshot", "ModifyVpcAttribute", "CreateNatGateway",
                          "DeleteVpc", "AllocateAddress", "AssociateAddress", "CreateNetworkInterface",
                          "DisableEbsEncryptionByDefault", "DeleteSecurityGroup", "RevokeSecurityGroupIngress",
                          "ImportKeyPair", "DeleteKeyPair", "CreateVpcPeeringConnection", "AcceptVpcPeeringConnection",
                          "ModifyInstanceMetadataOptions", "CreateLaunchTemplate", "GetConsoleScreenshot",
                          "DescribeVolumes", "DescribeSnapshots", "DescribeImages", "CreateTags", "DeleteTags"],
    "kms.amazonaws.com": ["CreateKey", "CreateGrant", "RetireGrant", "CancelKeyDeletion", "EnableKey", "GenerateDataKey",
                          "Encrypt", "ReEncrypt", "CreateAlias", "DeleteAlias", "ImportKeyMaterial"],
    "sts.amazonaws.com": ["DecodeAuthorizationMessage", "GetAccessKeyInfo"],
    "guardduty.amazonaws.com": ["DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "CreateFilter",
                                "DeleteMembers", "StopMonitoringMembers", "CreateIPSet", "UpdateIPSet"],
    "cloudtrail.amazonaws.com": ["DeleteEventDataStore", "StopEventDataStoreIngestion", "PutInsightSelectors"],
    "config.amazonaws.com": ["StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteConfigRule",
                             "DeleteEvaluationResults"],
    "logs.amazonaws.com": ["DeleteLogGroup", "DeleteLogStream", "PutRetentionPolicy", "PutSubscriptionFilter",
                           "DeleteSubscriptionFilter", "CreateExportTask", "DescribeLogGroups"],
    "lambda.amazonaws.com": ["CreateFunction20150331", "AddLayerVersionPermission20181031", "PublishLayerVersion20181031",
                             "UpdateFunctionUrlConfig20211031", "CreateFunctionUrlConfig20211031",
                             "PutFunctionConcurrency20171031", "GetFunction20150331v2"],
    "secretsmanager.amazonaws.com": ["DeleteSecret", "RestoreSecret", "UpdateSecret", "RotateSecret", "CreateSecret",
                                     "DescribeSecret", "PutSecretValue"],
    "organizations.amazonaws.com": ["CreateAccount", "InviteAccountToOrganization", "DisablePolicyType", "DetachPolicy",
                                    "DeletePolicy", "RemoveAccountFromOrganization", "UpdatePolicy"],
    "eks.amazonaws.com": ["CreateCluster", "DeleteCluster", "UpdateClusterConfig", "CreateAccessEntry",
                          "AssociateAccessPolicy", "CreateNodegroup"],
    "route53.amazonaws.com": ["ChangeResourceRecordSets", "DeleteHostedZone", "CreateHostedZone",
                              "DisableDomainTransferLock", "TransferDomainToAnotherAwsAccount"],
    "cloudformation.amazonaws.com": ["CreateStack", "DeleteStack", "UpdateStack", "CreateStackSet", "DeleteStackSet"],
    "sns.amazonaws.com": ["DeleteTopic", "SetTopicAttributes", "Subscribe", "CreateTopic"],
    "sqs.amazonaws.com": ["DeleteQueue", "PurgeQueue", "CreateQueue"],
    "dynamodb.amazonaws.com": ["DeleteTable", "UpdateTable", "ExportTableToPointInTime", "DeleteBackup",
                               "UpdateContinuousBackups", "DescribeContinuousBackups"],
    "glue.amazonaws.com": ["CreateTable", "UpdateTable", "DeleteDatabase", "DeleteTable", "CreateDevEndpoint",
                           "UpdateDevEndpoint"],
    "athena.amazonaws.com": ["StartQueryExecution", "DeleteWorkGroup", "UpdateWorkGroup"],
    "sso.amazonaws.com": ["CreatePermissionSet", "AttachManagedPolicyToPermissionSet", "CreateAccountAssignment",
                          "DeleteAccountAssignment", "PutInlinePolicyToPermissionSet"],
    "securityhub.amazonaws.com": ["DisableSecurityHub", "BatchDisableStandards", "DeleteMembers"],
    "ssm.amazonaws.com": ["PutParameter", "DeleteParameter", "CreateDocument", "ModifyDocumentPermission",
                          "ResumeSession", "GetParametersByPath"],
    "elasticloadbalancing.amazonaws.com": ["ModifyLoadBalancerAttributes", "DeleteLoadBalancer", "CreateListener"],
    "backup.amazonaws.com": ["DeleteBackupVault", "DeleteRecoveryPoint", "PutBackupVaultAccessPolicy",
                             "DeleteBackupPlan"],
    "ecr.amazonaws.com": ["DeleteRepository", "BatchDeleteImage", "PutLifecyclePolicy", "GetAuthorizationToken"],
    "rds.amazonaws.com": ["ModifyDBClusterSnapshotAttribute", "CreateDBCluster", "RestoreDBClusterFromSnapshot"],
}

PRIORITIES = [("LOW", 25), ("MEDIUM", 40), ("HIGH", 28), ("CRITICAL", 7)]
CATEGORIES = ["persistence", "privilege-escalation", "defense-evasion", "credential-access", "discovery",
              "exfiltration", "impact", "initial-access", "lateral-movement", "collection", "compliance",
              "cost", "data-protection", "network-exposure", "logging"]
TECHNIQUES = ["T1078.004", "T1098", "T1098.001", "T1136.003", "T1562.008", "T1530", "T1537", "T1485", "T1486",
              "T1580", "T1526", "T1552.005", "T1556", "T1606", "T1619", "T1648", "T1651", "T1190", "T1021.007",
              "T1496", "T1535", "T1578.002", "T1110", "T1087.004", "T1069.003"]
REGEXES = [
    ("userAgent", r'(?i)(kali|parrot|pentoo|nmap|sqlmap|masscan)'),
    ("userAgent", r'^aws-cli/1\.'),
    ("userAgent", r'(?i)^(python-requests|curl|wget|go-http-client)/'),
    ("userAgent", r'Boto3/1\.(1[0-9]|2[0-5])\.'),
    ("userIdentity.arn", r':assumed-role/[^/]*(?i:admin)[^/]*/'),
    ("userIdentity.arn", r'^arn:aws:sts::\d{12}:assumed-role/AWSReservedSSO_(AdministratorAccess|PowerUserAccess)_[0-9a-f]{16}/'),
    ("errorMessage", r'(?i)not authorized to perform: (iam|sts|kms|organizations):'),
    ("userIdentity.principalId", r'^AROA[A-Z2-7]{17}:i-0[0-9a-f]{16}$'),
    ("sourceIPAddress", r'^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.)'),
    ("userAgent", r'(?i)terraform/0\.(1[0-2])\.'),
    ("userIdentity.sessionContext.sessionIssuer.userName", r'^(github-actions|terraform|jenkins)[-_]'),
    ("userAgent", r'exec-env/AWS_Lambda_(python3\.[6-8]|nodejs1[0-4])'),
]
REQUEST_KEY_HINTS = ["bucketName", "roleName", "userName", "policyArn", "instanceType", "groupId", "keyId",
                     "secretId", "functionName", "name", "trailName", "dBInstanceIdentifier", "roleArn",
                     "roleSessionName", "key", "repositoryName", "tableName", "parameterName"]


CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "core", "data", "aws_catalog.txt")

# Extra tests that no record passes together (W306): one of them per rule.
EXCLUSIVE_TESTS = {'userIdentity.type == "Root"', 'userIdentity.type in ["IAMUser", "AssumedRole", "FederatedUser"]'}


def known_events():
    """eventSource -> its eventNames, or None for a source whose names are not all known."""
    known = {}
    with open(CATALOG, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if not words or line.startswith(("#", "=")):
                continue
            known[words[0]] = None if words[-1] == "*" else set(words[1:])
    return known


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def raw(s):
    if '"' in s:
        raise ValueError(s)
    return 'r"' + s + '"'


class RuleGen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        groups, _ = load_templates()
        self.names = {}
        self.request_keys = {}
        import json
        for source, name, bodies in groups:
            self.names.setdefault(source, set()).add(name)
            for b in bodies:
                rp = json.loads(b).get("requestParameters")
                if isinstance(rp, dict):
                    for k, v in rp.items():
                        if isinstance(v, str) and k.isidentifier() and not k.startswith("x"):
                            self.request_keys.setdefault((source, name), set()).add(k)
        for source, names in EXTRA_NAMES.items():
            self.names.setdefault(source, set()).update(names)
        known = known_events()
        for source in list(self.names):
            if source not in known:
                del self.names[source]
            elif known[source] is not None:
                self.names[source] &= known[source]
                if not self.names[source]:
                    del self.names[source]
        self.sources = sorted(self.names)
        for s in self.sources:
            self.names[s] = sorted(self.names[s])
        self.used_lists = set()

    def pick(self, weighted):
        return weighted_pick(self.rng, weighted)

    def source(self):
        # Most rules are about the big services.
        big = ["iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com", "kms.amazonaws.com",
               "sts.amazonaws.com", "cloudtrail.amazonaws.com", "lambda.amazonaws.com", "rds.amazonaws.com"]
        if self.rng.random() < 0.55:
            return self.rng.choice(big)
        return self.rng.choice(self.sources)

    def extra_test(self, source, name):
        rng = self.rng
        keys = sorted(self.request_keys.get((source, name), [])) or REQUEST_KEY_HINTS
        k = rng.choice(keys)
        choices = [
            'userIdentity.type == "Root"',
            'userIdentity.type != "AWSService"',
            'userIdentity.type in ["IAMUser", "AssumedRole", "FederatedUser"]',
            'human',
            'failed',
            'errorCode missing',
            'readOnly == false',
            'sourceIPAddress within ["0.0.0.0/0", "::/0"] and sourceIPAddress not within corp_networks',
            'userIdentity.arn contains ":user/"',
            'userIdentity.sessionContext.sessionIssuer.userName in admin_roles',
            'awsRegion not in approved_regions',
            'userAgent startswith ["aws-cli/", "Boto3/"]',
            'requestParameters.%s exists' % k,
            'requestParameters.%s startswith [%s]' % (k, ", ".join(q(p) for p in rng.sample(["prod", "prd-", "finance", "pii", "backup", "audit", "security", "root"], 2))),
            'requestParameters.%s like %s' % (k, q(rng.choice(["*prod*", "*-backup-*", "*admin*", "*secret*", "arn:aws:*"]))),
            'userIdentity.sessionContext.attributes.mfaAuthenticated == "false"',
            'userIdentity.accessKeyId startswith "AKIA"',
        ]
        t = rng.choice(choices)
        if t == "human":
            self.used_lists.add("human")
        if "corp_networks" in t:
            self.used_lists.add("corp_networks")
        return t

    def actions(self, source, name):
        rng = self.rng
        acts = []
        if rng.random() < 0.55:
            acts.append("set xpriority = %s" % self.pick(PRIORITIES))
        if rng.random() < 0.7:
            acts.append("tag %s" % ", ".join(q(t) for t in rng.sample(CATEGORIES, rng.randrange(1, 3))))
        if rng.random() < 0.2:
            acts.append("set xcategory = %s" % q(rng.choice(CATEGORIES)))
        if rng.random() < 0.1 and name:
            keys = sorted(self.request_keys.get((source, name), []))
            if keys:
                acts.append("set xresource = requestParameters.%s" % rng.choice(keys))
        if rng.random() < 0.1:
            acts.append('set xmitre = "%s"' % rng.choice(TECHNIQUES))
        return acts

    def names_of(self, source, n):
        names = self.names[source]
        return self.rng.sample(names, min(n, len(names)))

    def rule(self, i):
        rng = self.rng
        kind = self.pick([("name", 45), ("in", 15), ("source_prefix", 15), ("source_identity", 10),
                          ("always", 10), ("name_regex", 5)])
        source = self.source()
        name = None
        if kind == "name":
            name = rng.choice(self.names[source])
            cond = "eventName == %s" % q(name)
            extras = []
            for _ in range(self.pick([(0, 35), (1, 45), (2, 20)])):
                t = self.extra_test(source, name)
                if not (t in EXCLUSIVE_TESTS and EXCLUSIVE_TESTS & set(extras)):
                    extras.append(t)
            for t in extras:
                cond += "\n   and " + t
            desc = "%s %s" % (source.split(".")[0], name)
        elif kind == "in":
            names = self.names_of(source, rng.randrange(3, 9))
            cond = "eventName in [%s]" % ", ".join(q(n) for n in names)
            if rng.random() < 0.6:
                cond += "\n   and " + self.extra_test(source, names[0])
            desc = "%s calls: %s" % (source.split(".")[0], ", ".join(names[:3]))
        elif kind == "source_prefix":
            op = rng.choice(["startswith", "like", "endswith"])
            arg = {"startswith": q(rng.choice(["Delete", "Put", "Create", "Update", "Disable", "Stop", "Remove", "Modify"])),
                   "like": q(rng.choice(["*Policy*", "Delete*", "*Permission*", "Put*Configuration", "*Access*"])),
                   "endswith": q(rng.choice(["Policy", "Configuration", "Attribute", "Permission"]))}[op]
            cond = "eventSource == %s\n   and eventName %s %s" % (q(source), op, arg)
            if rng.random() < 0.5:
                cond += "\n   and " + self.extra_test(source, None)
            desc = "%s: eventName %s %s" % (source.split(".")[0], op, arg)
        elif kind == "source_identity":
            cond = "eventSource == %s\n   and %s" % (q(source), rng.choice([
                'userIdentity.type == "Root"',
                'userIdentity.type in ["FederatedUser", "WebIdentityUser", "SAMLUser"]',
                'userIdentity.arn like "*:assumed-role/AWSReservedSSO_AdministratorAccess_*"',
                'userIdentity.sessionContext.sessionIssuer.userName in admin_roles and readOnly == false',
                'errorCode in ["AccessDenied", "Client.UnauthorizedOperation"]',
                'userIdentity.invokedBy exists',
                'userIdentity.accountId != recipientAccountId',
            ]))
            desc = "%s: identity condition" % source.split(".")[0]
        elif kind == "always":
            if rng.random() < 0.35:
                field, rx = rng.choice(REGEXES)
                cond = "%s matches %s" % (field, raw(rx))
            else:
                cond = rng.choice([
                    'userIdentity.type == "Root" and userIdentity.invokedBy missing',
                    'userIdentity.sessionContext.sessionIssuer.userName startswith "AWSReservedSSO_AdministratorAccess"',
                    'errorCode in ["AccessDenied", "Client.UnauthorizedOperation", "UnauthorizedOperation"]\n   and userIdentity.type != "AWSService"',
                    'sourceIPAddress within suspicious_networks',
                    'userIdentity.arn like "*:assumed-role/github-actions-*" and readOnly == false',
                    'userIdentity.accessKeyId startswith "AKIA" and readOnly == false',
                    'awsRegion not in approved_regions and readOnly == false',
                    'userIdentity.userName in i["admin", "administrator", "root", "test"]',
                    'userAgent contains i"powershell"',
                    'userIdentity.type == "AWSAccount" and userIdentity.invokedBy missing',
                    'userIdentity.sessionContext.attributes.mfaAuthenticated == "false"\n   and userIdentity.type == "Root"',
                    'any resources[].type in ["AWS::KMS::Key", "AWS::IAM::Role"] and readOnly == false',
                    'eventType == "AwsConsoleSignIn" and userIdentity.type == "Root"',
                    'vpcEndpointId exists and userIdentity.accountId != recipientAccountId',
                ])
                if "suspicious_networks" in cond:
                    self.used_lists.add("suspicious_networks")
            desc = "across services"
            source = "00-global"
        else:  # name_regex
            name = rng.choice(self.names[source])
            keys = sorted(self.request_keys.get((source, name), [])) or REQUEST_KEY_HINTS
            cond = "eventName == %s\n   and requestParameters.%s matches %s" % (
                q(name), rng.choice(keys), raw(rng.choice([r'(?i)(prod|prd)[-_]', r'^arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:',
                                                          r'[*]', r'(?i)(admin|root|superuser)', r'-(dev|test|tmp)\d*$'])))
            desc = "%s %s (parameter pattern)" % (source.split(".")[0], name)
        meta = ['  description %s' % q(desc)]
        if rng.random() < 0.6:
            meta.append("  severity %s" % self.pick(PRIORITIES))
        if rng.random() < 0.5:
            meta.append("  tags [%s]" % q(rng.choice(TECHNIQUES)))
        acts = self.actions(source, name)
        text = "rule gen-%04d {\n%s\n  when %s\n%s}\n" % (
            i, "\n".join(meta), cond, "".join("  %s\n" % a for a in acts))
        return source, text


HEADER = '''# Generated by bench/gen_rules.py: shared lists and macros.
list corp_networks = ["192.0.2.0/24", "198.51.100.0/24", "10.0.0.0/8", "2001:db8::/32"]
list suspicious_networks = ["185.220.100.0/22", "45.155.205.0/24", "89.160.20.128/25", "2a02:d300::/29", "67.43.156.0/24"]
list admin_roles = ["OrganizationAccountAccessRole", "terraform-apply", "aws-controltower-AdministratorExecutionRole"]
list approved_regions = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"]
macro human = userIdentity.type in ["IAMUser", "AssumedRole", "Root", "FederatedUser", "SAMLUser"]
  and userIdentity.invokedBy missing
macro failed = errorCode exists
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    g = RuleGen(a.seed)
    files = {}
    for i in range(a.rules):
        source, text = g.rule(i)
        key = source.split(".")[0]
        files.setdefault(key, []).append(text)
    os.makedirs(a.out, exist_ok=True)
    for old in os.listdir(a.out):
        if old.endswith(".rules"):
            os.remove(os.path.join(a.out, old))
    # Every shared name is used at least once, so `check --deny-warnings` passes.
    tail = ('rule gen-lists {\n  description "uses every shared list and macro"\n'
            '  when eventName == "ConsoleLogin" and human and failed\n'
            '   and sourceIPAddress not within corp_networks\n   and sourceIPAddress within suspicious_networks\n'
            '   and userIdentity.sessionContext.sessionIssuer.userName in admin_roles\n'
            '   and awsRegion in approved_regions\n  set xpriority = CRITICAL\n}\n')
    with open(os.path.join(a.out, "00-lists.rules"), "w") as f:
        f.write(HEADER + "\n" + tail)
    for key in sorted(files):
        with open(os.path.join(a.out, "%s.rules" % key), "w") as f:
            f.write("# Generated by bench/gen_rules.py (seed %d)\n\n" % a.seed)
            f.write("\n".join(files[key]))
    print("%d rules (+1 using the shared lists) in %d files under %s" % (a.rules, len(files) + 1, a.out))


if __name__ == "__main__":
    main()
