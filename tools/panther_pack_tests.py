#!/usr/bin/env python3
"""Writes the tests of the Panther rules of the detection pack.

For every public Panther rule in the corpus (panther_cases/*.json, one per
rule, with the rule's test events and the verdict each must give) whose port
exists as packs/aws-detections/panther/<stem>.rules (the stem of the public
rule's .yml), writes <stem>.test.json beside it: one test per Panther test,
with the event copied verbatim, the rule in `matches` or `not_matches`, and
the Panther "mocks" turned into table rows (`tables`).

    python3 tools/panther_pack_tests.py [CORPUS_DIR]

CORPUS_DIR defaults to ../shared/corpus/panther_cases beside the repository
(/work/shared/corpus/panther_cases). Re-run it after adding a port; the
tests it writes are committed, so `ctrules test` needs no corpus.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACK = os.path.join(REPO, "packs", "aws-detections", "panther")
DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO), "shared", "corpus", "panther_cases")


def truthy(value):
    """Panther mocks hold booleans or the strings 'True'/'False'."""
    return value is True or str(value).lower() == "true"


def tables_for(rule_id, test):
    """The table rows standing for a test's mocks, by table name."""
    mocks = {m["objectName"]: m["returnValue"] for m in test.get("mocks", [])}
    event = test["event"]
    tables = {}
    if "check_account_age" in mocks:
        rows = []
        if truthy(mocks["check_account_age"]):
            if rule_id == "AWS.CloudTrail.AMIModifiedForPublicAccess":
                items = (
                    event.get("requestParameters", {})
                    .get("launchPermission", {})
                    .get("add", {})
                    .get("items", [])
                )
                rows = [{"account": i["userId"], "created": "recently"} for i in items if "userId" in i]
            else:
                # The login rule asks about the user and the account.
                ident = event.get("userIdentity", {})
                keys = [ident.get("userName"), event.get("recipientAccountId")]
                rows = [{"account": k, "created": "recently"} for k in keys if k]
        tables["panther_new_accounts"] = rows
    if "ALLOW_LIST" in mocks:
        allowed = mocks["ALLOW_LIST"]
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        tables["panther_security_change_allow_list"] = [
            {"userName": a["userName"], "eventName": a["eventName"]} for a in allowed
        ]
    if "ROLES_VIA_EXTERNAL_IDP" in mocks:
        rows = []
        if truthy(mocks["ROLES_VIA_EXTERNAL_IDP"]):
            rows = [{"value": event["recipientAccountId"]}]
        tables["panther_external_idp_accounts"] = rows
    # geoinfo_from_ip_formatted only feeds Panther's alert title: no rows.
    return tables


# Rules whose public tests all expect the same verdict get the other one here,
# from their first event with some fields replaced: (name, expected, fields).
EXTRA = {
    "AWS.CloudTrail.AttemptToLeaveOrg": [
        ("(added) Listing the organization's accounts", False, {"eventName": "ListAccounts"}),
    ],
    "AWS.Console.Sign-In": [
        ("(added) A portal call that is not a sign-in", False, {"eventName": "ListAccounts"}),
    ],
    "AWS.CloudTrail.DNSLogsDeleted": [
        ("(added) Query logging deleted, but the call failed", False,
         {"errorCode": "AccessDenied", "errorMessage": "User is not authorized"}),
        ("(added) A query log configuration listed", False,
         {"eventName": "ListResolverQueryLogConfigs"}),
    ],
    "AWS.VPCFlow.LogsDeleted": [
        ("(added) Flow logs deleted, but the call failed", False,
         {"errorCode": "UnauthorizedOperation"}),
        ("(added) Flow logs described", False, {"eventName": "DescribeFlowLogs"}),
    ],
}


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CORPUS
    written = 0
    for name in sorted(os.listdir(corpus)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(corpus, name)) as f:
            case = json.load(f)
        stem = os.path.splitext(os.path.basename(case["source"]["rule_yaml"]))[0]
        if not os.path.exists(os.path.join(PACK, stem + ".rules")):
            continue
        rule = "panther-" + case["rule_id"]
        tests = []
        for t in case["tests"]:
            test = {"name": t["name"], "event": t["event"]}
            test["matches" if t["expected"] else "not_matches"] = [rule]
            tables = tables_for(case["rule_id"], t)
            if tables:
                test["tables"] = tables
            tests.append(test)
        for extra_name, expected, fields in EXTRA.get(case["rule_id"], []):
            event = dict(case["tests"][0]["event"])
            event.update(fields)
            test = {"name": extra_name, "event": event}
            test["matches" if expected else "not_matches"] = [rule]
            tests.append(test)
        out = os.path.join(PACK, stem + ".test.json")
        with open(out, "w") as f:
            json.dump({"tests": tests}, f, indent=1)
            f.write("\n")
        written += 1
    print(f"wrote {written} test files in {os.path.relpath(PACK, REPO)}")


if __name__ == "__main__":
    main()
