#!/usr/bin/env python3
"""Ports the Sigma CloudTrail rules of the corpus into packs/aws-detections/sigma.

    python3 tools/sigma_pack.py [STEM ...]

Reads ../shared/corpus/sigma/*.yml (beside the repository), translates each
detection (selections, lists, null, the contains/startswith/endswith/re/all/
fieldref modifiers, `1 of`/`all of`, and/or/not) into a block rule, and
writes hand-made tests both ways: an event built from the positive
selections, the same event with the first field changed, and one per filter.
Sigma compares case-insensitively: every value is an i"..." string, except
eventSource and eventName, which AWS writes in one case (exact strings keep
the rules in the eventName index). OVERRIDE_COND, MATCH_FIX, FILTER_FIX and
ALLOW hold the hand corrections; a rule it cannot translate (|expand) is
reported and left alone. Needs PyYAML. Run `ctrules fmt` on the output.
"""
import yaml, json, os, re, glob, copy, sys, textwrap
REPO=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC=os.path.join(os.path.dirname(REPO),'shared','corpus','sigma')
OUT=os.path.join(REPO,'packs','aws-detections','sigma')
COMMIT='8eaafff1f2845a696050e05e72ba1140ee190698'
LEVEL={'informational':'INFO','low':'LOW','medium':'MEDIUM','high':'HIGH','critical':'CRITICAL'}
EXACT={'eventSource','eventName'}
SKIP={}   # stem -> reason
OVERRIDE_COND={
 'aws_iam_backdoor_users_keys': '(eventSource == "iam.amazonaws.com" and eventName == "CreateAccessKey") and not userIdentity.arn contains responseElements.accessKey.userName',
 'aws_delete_saml_provider': '(eventSource == "iam.amazonaws.com" and eventName == "DeleteSAMLProvider" and errorCode missing)',
 'aws_route_53_domain_transferred_lock_disabled': '(eventSource == "route53domains.amazonaws.com" and eventName == "DisableDomainTransferLock")',
 'aws_route_53_domain_transferred_to_another_account': '(eventSource == "route53domains.amazonaws.com" and eventName == "TransferDomainToAnotherAwsAccount")',
}
MATCH_FIX={
 'aws_update_login_profile': lambda ev: ev.update(requestParameters={'userName': 'bob', 'passwordResetRequired': False}),
 'aws_iam_backdoor_users_keys': lambda ev: ev.update(responseElements={'accessKey': {'userName': 'bob', 'status': 'Active'}}),
 'aws_root_account_usage': lambda ev: ev.update(eventType="AwsApiCall"),
 'aws_delete_saml_provider': lambda ev: ev.pop('status', None),
 'aws_route_53_domain_transferred_lock_disabled': lambda ev: ev.update(eventSource="route53domains.amazonaws.com"),
 'aws_route_53_domain_transferred_to_another_account': lambda ev: ev.update(eventSource="route53domains.amazonaws.com"),
}
FILTER_FIX={
 'aws_update_login_profile': lambda ev: ev.setdefault('requestParameters', {}).update(userName=ev['userIdentity']['arn']),
 'aws_iam_backdoor_users_keys': lambda ev: (ev['userIdentity'].update(arn='arn:aws:iam::111122223333:user/alice'), ev['responseElements'].update(accessKey={'userName': 'alice', 'status': 'Active'})),
}  # stem -> condition text
EXTRA_TECH={}
REGEX_SAMPLE={'aws_cloudtrail_imds_malicious_usage':'arn:aws:sts::123456789012:assumed-role/aws:ec2-instance/i-0123456789abcdef0'}
ALLOW={
 'aws_elasticache_security_group_modified_or_deleted': ['W308 "Sigma lists the Egress calls, which ElastiCache security groups do not have; kept as Sigma writes them"'],
 'aws_s3_data_management_tampering': ['W308 "Sigma names IAM permissions (PutEncryptionConfiguration, PutLifecycleConfiguration, PutReplicationConfiguration, ReplicateObject) where CloudTrail writes other event names; kept as Sigma writes them"'],
}
def q(s): return json.dumps(s)
def lit(field, v):
    if field in EXACT: return q(v)
    return 'i'+q(v)
def has_wild(v): return isinstance(v,str) and ('*' in v or '?' in v)
def path_of(field, mods):
    if field in ('requestParameters','responseElements') or (field.split('.')[0] in ('requestParameters','responseElements') and ('contains' in mods)):
        return field+'.**'
    return field
def one(field, mods, v):
    p=path_of(field,mods)
    if v is None: return f'{field} missing'
    if 'fieldref' in mods: return f'{field} == {v}'
    if isinstance(v,bool): v='true' if v else 'false'
    if isinstance(v,(int,float)): return f'{p} == {v}'
    if v in ('true','false') and not mods:
        return f'({p} == {v} or {p} == i{q(v)})'
    if 're' in mods: return f'{p} matches r{q(v)}'
    if 'contains' in mods:
        if v.strip('*')=='' : return f'{field} exists'
        return f'{p} contains {lit(field,v)}'
    if 'startswith' in mods: return f'{p} startswith {lit(field,v)}'
    if 'endswith' in mods: return f'{p} endswith {lit(field,v)}'
    if has_wild(v): return f'{p} like {lit(field,v)}'
    return f'{p} == {lit(field,v)}'
def fieldcond(key, val):
    parts=key.split('|'); field=parts[0]; mods=parts[1:]
    if 'expand' in mods or 'cidr' in mods: raise ValueError('modifier '+'|'.join(mods))
    vals=val if isinstance(val,list) else [val]
    if len(vals)==1: return one(field,mods,vals[0])
    if 'all' in mods: return '(' + ' and '.join(one(field,mods,v) for v in vals) + ')'
    if not mods and all(isinstance(v,str) and not has_wild(v) for v in vals):
        items=', '.join(q(v) for v in vals)
        return f'{field} in [{items}]' if field in EXACT else f'{field} in i[{items}]'
    if mods in (['contains'],['startswith'],['endswith']) and all(v.strip('*') for v in vals):
        op=mods[0]; items=', '.join(q(v) for v in vals)
        pre='' if field in EXACT else 'i'
        return f'{path_of(field,mods)} {op} {pre}[{items}]'
    return '(' + ' or '.join(one(field,mods,v) for v in vals) + ')'
def selcond(sel):
    if isinstance(sel,list):
        return '(' + ' or '.join(selcond(s) for s in sel) + ')'
    cs=[fieldcond(k,v) for k,v in sel.items()]
    return cs[0] if len(cs)==1 else '(' + ' and '.join(cs) + ')'
def condition(expr, sels):
    toks=re.findall(r'\(|\)|[^\s()]+', expr)
    pos=[0]
    def peek(): return toks[pos[0]] if pos[0]<len(toks) else None
    def nxt(): t=toks[pos[0]]; pos[0]+=1; return t
    def orx():
        a=[andx()]
        while peek()=='or': nxt(); a.append(andx())
        return a[0] if len(a)==1 else '(' + ' or '.join(a) + ')'
    def andx():
        a=[notx()]
        while peek()=='and': nxt(); a.append(notx())
        return a[0] if len(a)==1 else '(' + ' and '.join(a) + ')'
    def notx():
        if peek()=='not': nxt(); return 'not ' + notx()
        return prim()
    def prim():
        t=nxt()
        if t=='(':
            e=orx(); assert nxt()==')'; return e
        if t in ('1','all'):
            assert nxt()=='of'; pat=nxt()
            names=[n for n in sels if (n.startswith(pat[:-1]) if pat.endswith('*') else n==pat)] if pat!='them' else list(sels)
            cs=[selcond(sels[n]) for n in names]
            j=' or ' if t=='1' else ' and '
            return cs[0] if len(cs)==1 else '(' + j.join(cs) + ')'
        return selcond(sels[t])
    return orx()

BASE={"eventVersion":"1.09","eventTime":"2025-03-04T10:00:00Z","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0 Python/3.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventID":"0f1e2d3c-0000-4000-8000-000000000001","eventType":"AwsApiCall","recipientAccountId":"111122223333"}
def setp(ev, path, v):
    ks=path.split('.'); d=ev
    for k in ks[:-1]:
        if not isinstance(d.get(k),dict): d[k]={}
        d=d[k]
    if v is None: d.pop(ks[-1],None)
    else: d[ks[-1]]=v
def sample(stem, key, v):
    parts=key.split('|'); field=parts[0]; mods=parts[1:]
    if isinstance(v,list):
        if 'all' in mods: v=' '.join(x for x in v)
        else: v=v[0]
    if v is None: return field, None
    if 'fieldref' in mods: return field, 'FIELDREF'
    if 're' in mods: return field, REGEX_SAMPLE[stem]
    if 'contains' in mods:
        if v.strip('*')=='': return field, 'anything'
        if field in ('requestParameters','responseElements'): return field+'.policy', f'x {v} x'
        return field, f'x {v} x'
    if 'startswith' in mods: return field, v+'Example'
    if 'endswith' in mods: return field, 'Example'+v
    if isinstance(v,str) and has_wild(v): return field, v.replace('*','x').replace('?','x')
    if v in ('true','false'): return field, v=='true'
    return field, v
def apply(stem, ev, sel):
    if isinstance(sel,list): sel=sel[0]
    for k,v in sel.items():
        f,val=sample(stem,k,v)
        if val=='FIELDREF': continue
        setp(ev,f,val)

done=[]; notdone={}
files=sorted(glob.glob(SRC+'/*.yml'))+sorted(glob.glob(SRC+'/placeholder/*.yml'))
only=set(sys.argv[1:])
if not os.path.isdir(SRC): sys.exit(f'no corpus at {SRC}')
for f in files:
    stem=os.path.basename(f)[:-4]
    if only and stem not in only: continue
    y=yaml.safe_load(open(f))
    det=y['detection']; cexpr=det['condition']
    sels={k:v for k,v in det.items() if k!='condition'}
    if stem in SKIP: notdone[stem]=SKIP[stem]; continue
    try:
        cond=OVERRIDE_COND.get(stem) or condition(cexpr, sels)
    except Exception as e:
        notdone[stem]=str(e); continue
    techs=sorted({t.split('.',1)[1].upper() for t in y.get('tags',[]) if re.match(r'attack\.t\d{4}', t)}) or EXTRA_TECH.get(stem,[])
    rid='sigma-'+stem
    sub='rules-placeholder' if 'placeholder' in f else 'rules'
    ref=f'https://github.com/SigmaHQ/sigma/blob/{COMMIT}/{sub}/cloud/aws/cloudtrail/{os.path.basename(f)}'
    hdr='\n'.join('# '+l for l in textwrap.wrap(f"Sigma {y['id']}: {y['title']}. {y.get('description','')}".strip(), 76))
    out=hdr+'\n# Sigma detection:\n'+'\n'.join('#   '+l for l in yaml.safe_dump(det, sort_keys=False).rstrip().split('\n'))+'\n'
    out+=f'rule {rid} {{\n  description {q(y["title"])}\n  severity {LEVEL[y["level"]]}\n'
    for t in techs: out+=f'  technique "{t}"\n'
    out+=f'  reference "{ref}"\n'
    for r in y.get('references',[])[:3]: out+=f'  reference {q(r)}\n'
    for a in ALLOW.get(stem,[]): out+=f'  allow {a}\n'
    out+=f'  when {cond}\n}}\n'
    open(f'{OUT}/{stem}.rules','w').write(out)
    # tests
    pos=[n for n in sels if not n.startswith('filter')]
    ev=copy.deepcopy(BASE)
    for n in pos: apply(stem, ev, sels[n])
    if stem in MATCH_FIX: MATCH_FIX[stem](ev)
    tests=[{"name":f"{y['title']}: an event the rule describes","event":ev,"matches":[rid]}]
    first=pos[0]; s0=sels[first]; s0=s0[0] if isinstance(s0,list) else s0
    k0=list(s0)[0]; f0=k0.split('|')[0]
    ev2=copy.deepcopy(ev)
    if s0[k0] is None: setp(ev2,f0,'SomethingElse')
    else: setp(ev2,f0, 'DescribeAccountAttributes' if f0=='eventName' else ('cloudshell.amazonaws.com' if f0=='eventSource' else 'unrelated'))
    tests.append({"name":f"not {f0} as the rule requires","event":ev2,"not_matches":[rid]})
    for n in sels:
        if n.startswith('filter'):
            ev3=copy.deepcopy(ev); apply(stem, ev3, sels[n])
            if stem in FILTER_FIX: FILTER_FIX[stem](ev3)
            tests.append({"name":f"excluded by {n}","event":ev3,"not_matches":[rid]})
    with open(f'{OUT}/{stem}.test.json','w') as fh:
        json.dump({"tests":tests}, fh, indent=1)
        fh.write('\n')
    done.append(stem)
print(len(done),'ported'); print(json.dumps(notdone,indent=1))
