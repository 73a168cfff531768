#!/bin/bash
# make check-live: runs azcmk against a real Azure subscription the operator names (AZCMK_LIVE_SUBSCRIPTION),
# read-only unless AZCMK_LIVE_WRITE=1, checks every answer as the tests do, and writes a redacted report to
# attach to a bug. Never part of make check; without AZCMK_LIVE_SUBSCRIPTION it says what to set and exits 0.
#
# Settings (an empty one counts as unset):
#   AZCMK_LIVE_SUBSCRIPTION    the subscription to audit (id or display name); required
#   AZCMK_LIVE_RESOURCE        a resource to check and plan (ARM id, or a name unique in the subscription)
#   AZCMK_LIVE_KEY             the key URI to plan for (plan --key); default: the key the resource uses
#   AZCMK_LIVE_PLAN_ARGS       more plan options, split on blanks (e.g. --confirm-irreversible)
#   AZCMK_LIVE_WRITE=1         also plan, apply, check, rotate --new-version and refresh the resource,
#   AZCMK_LIVE_RESOURCE_GROUP  which must be inside this resource group (one you own)
#   AZCMK_LIVE_PROPAGATION_WAIT  apply, rotate, refresh: --propagation-wait (default: azcmk's)
#   AZCMK_LIVE_AUTH, AZCMK_LIVE_CLOUD, AZCMK_LIVE_CA_FILE  azcmk's --auth, --cloud and --ca-file
#   AZCMK_LIVE_DEBUG=1         run azcmk with --debug (the trace goes, redacted, into the report)
#   AZCMK_LIVE_REPORT          where to write the report (default ./azcmk-live-report.txt)
#   AZCMK_LIVE_TIMEOUT         seconds each command may take (default 1800)
#   AZCMK                      the azcmk to run (default $top_builddir/src/azcmk, else azcmk on PATH)
# The credential is azcmk's own chain: AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET,
# AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE; a managed identity; or az login (see azcmk(1)).
# check-live.sh --self-test checks the report's redaction on a made-up sample and exits.
set -u

pass=0 fail=0 skipped=0
cases=()
work=
keep_work=
subid=
resid=
rc=0
last_cmd=

# Prints what to set and exits 0: the live suite runs only when the operator asks for it.
not_configured() {
	echo "check-live: not run: set AZCMK_LIVE_SUBSCRIPTION to a subscription id or name, and a credential"
	echo "  azcmk can use (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, a managed identity, or"
	echo "  az login with AZCMK_LIVE_AUTH=cli); optionally AZCMK_LIVE_RESOURCE to check and plan one resource."
	echo "  Writes happen only with AZCMK_LIVE_WRITE=1 and AZCMK_LIVE_RESOURCE_GROUP; see README."
	exit 0
}

# Writes the JSON checker: the same expectations as the tests and azcmk(1) for each command's -o json.
write_validator() {
	cat >"$work/validate.py" <<'EOF'
import json, re, sys

GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
SEVERITIES = ('blocker', 'warning', 'note')
SERVICES = ('dicom', 'healthbot', 'foundry', 'openai')


class Bad(Exception):
    pass


def need(cond, why):
    if not cond:
        raise Bad(why)


def load(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise Bad('not valid JSON: %s' % e)


def members(obj, where, names, kinds=(str,)):
    need(isinstance(obj, dict), '%s is not an object' % where)
    for n in names:
        need(n in obj, '%s lacks "%s"' % (where, n))
        need(isinstance(obj[n], kinds), '%s: "%s" has the wrong type' % (where, n))


def finding(f, where):
    members(f, where, ('rule', 'severity', 'verdict', 'subject', 'message', 'explanation', 'fix'))
    need('detail' in f and (f['detail'] is None or isinstance(f['detail'], str)), where + ': bad "detail"')
    need(f['severity'] in SEVERITIES, '%s: severity %r' % (where, f['severity']))
    need(f['verdict'] in ('fails', 'unknown'), '%s: verdict %r' % (where, f['verdict']))


def same_resource(rid, named):
    """Whether the ARM id rid is the resource the operator named (an ARM id, or a name such as ws/svc)."""
    if named.startswith('/'):
        return rid.lower() == named.rstrip('/').lower()
    return rid.lower().rstrip('/').split('/')[-1] == named.lower().split('/')[-1]


def login(path, rc):
    d = load(path)
    members(d, 'login', ('cloud', 'tenantId', 'objectId', 'method'))
    need(rc == 0, 'exit %d' % rc)
    need(GUID.match(d['tenantId']), 'tenantId is not a GUID')
    return 'signed in with %s' % d['method']


def accounts(path, rc, wanted):
    d = load(path)
    need(rc == 0, 'exit %d' % rc)
    need(isinstance(d, list), 'not an array')
    for i, s in enumerate(d):
        members(s, 'subscription %d' % i, ('subscriptionId', 'displayName', 'state', 'tenantId'))
    hit = [s for s in d if wanted.lower() in (s['subscriptionId'].lower(), s['displayName'].lower())]
    need(hit, 'AZCMK_LIVE_SUBSCRIPTION is not among the %d subscriptions this principal can see' % len(d))
    return hit[0]['subscriptionId']


def audit(path, rc, wanted, deep):
    d = load(path)
    members(d, 'audit', ('schema', 'generatedAt'))
    need(d['schema'] == 'azcmk-audit/1', 'schema %r' % d['schema'])
    need(d.get('deep') is (deep == '1'), '"deep" is %r' % d.get('deep'))
    subs = d.get('subscriptions')
    need(isinstance(subs, list) and len(subs) == 1, 'not exactly one subscription in scope')
    members(subs[0], 'subscriptions[0]', ('subscriptionId', 'displayName'))
    need(subs[0].get('readable') is True, 'the subscription is not readable by this principal')
    need(wanted.lower() in (subs[0]['subscriptionId'].lower(), subs[0]['displayName'].lower()),
         'audited another subscription')
    fs = d.get('findings')
    need(isinstance(fs, list), 'no "findings" array')
    for i, f in enumerate(fs):
        where = 'findings[%d]' % i
        finding(f, where)
        members(f, where, ('id', 'resourceId', 'subscriptionId', 'resourceGroup', 'name', 'service'))
        need(re.match(r'^[0-9a-f]{16}$', f['id']), where + ': id is not 16 hex digits')
    s = d.get('summary')
    keys = ('subscriptions', 'resources', 'customerManaged', 'microsoftManaged', 'findings') + SEVERITIES
    members(s, 'summary', keys, (int,))
    need(s['findings'] == len(fs), 'summary.findings %d, %d listed' % (s['findings'], len(fs)))
    for sev in SEVERITIES:
        n = sum(1 for f in fs if f['severity'] == sev)
        need(s[sev] == n, 'summary.%s %d, %d listed' % (sev, s[sev], n))
    need(s['customerManaged'] + s['microsoftManaged'] <= s['resources'], 'summary: more keys than resources')
    need(rc == (1 if s['blocker'] else 0), 'exit %d with %d blocker(s)' % (rc, s['blocker']))
    return '%d resources (%d on a customer-managed key), %d findings: %d blocker(s), %d warning(s), %d note(s)' % (
        s['resources'], s['customerManaged'], s['findings'], s['blocker'], s['warning'], s['note'])


def check(path, rc, named, must_pass='0'):
    d = load(path)
    members(d, 'check', ('resource', 'service'))
    need(isinstance(d.get('change'), bool), 'no boolean "change"')
    need(isinstance(d.get('checked'), int) and d['checked'] > 0, 'no rule was checked')
    need(d['service'] in SERVICES, 'service %r' % d['service'])
    need(same_resource(d['resource'], named), 'checked %s, not the resource named' % d['resource'])
    fs = d.get('findings')
    need(isinstance(fs, list), 'no "findings" array')
    for i, f in enumerate(fs):
        finding(f, 'findings[%d]' % i)
    blockers = sum(1 for f in fs if f['severity'] == 'blocker')
    need(rc == (1 if blockers else 0), 'exit %d with %d blocker(s)' % (rc, blockers))
    need(must_pass == '0' or not blockers, 'a blocker remains: ' +
         ', '.join(f['rule'] for f in fs if f['severity'] == 'blocker'))
    return '%s: %d rules, %d failing, %d blocker(s)' % (d['service'], d['checked'], len(fs), blockers)


def plan(path, rc, named):
    d = load(path)
    need(rc == 0, 'exit %d' % rc)
    members(d, 'plan', ('format', 'id', 'resource', 'service'))
    need(d['format'] == 'azcmk-plan/2', 'format %r' % d['format'])
    need(re.match(r'^[0-9a-f]{64}$', d['id']), 'id is not 64 hex digits')
    need(d['service'] in SERVICES, 'service %r' % d['service'])
    need(same_resource(d['resource'], named), 'a plan for %s, not the resource named' % d['resource'])
    steps = d.get('steps')
    need(isinstance(steps, list) and steps, 'no steps')
    for i, st in enumerate(steps):
        members(st, 'steps[%d]' % i, ('step', 'title'))
        if st.get('method') is not None or st['step'] != 'wait-access':  # the wait sends no request
            members(st, 'steps[%d]' % i, ('method', 'url'))
        need(isinstance(st.get('reversible'), bool), 'steps[%d]: no boolean "reversible"' % i)
    need(steps[-1]['step'] == 'verify', 'the plan does not end with the verification')
    return 'plan %s: %d steps (%s)' % (d['id'][:16], len(steps), ', '.join(st['step'] for st in steps))


def field(path, name):
    return load(path)[name]


try:
    kind, args = sys.argv[1], sys.argv[2:]
    if kind in ('login', 'accounts', 'audit', 'check', 'plan'):
        args[1] = int(args[1])
    print({'login': login, 'accounts': accounts, 'audit': audit, 'check': check, 'plan': plan,
           'field': field}[kind](*args))
except Bad as e:
    print(e)
    sys.exit(1)
except (KeyError, TypeError, IndexError) as e:
    print('unexpected shape: %r' % (e,))
    sys.exit(1)
EOF
}

# Writes the redactor: drops Authorization lines; replaces secrets, tokens, subscription and tenant ids.
write_redactor() {
	cat >"$work/redact.py" <<'EOF'
import os, re, sys

G = r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
text = sys.stdin.read()
# 1. Authorization header lines (any form, in any trace) go whole.
text = ''.join(l for l in text.splitlines(True) if not re.search(r'authorization\s*:', l, re.I))
# 2. The secrets of the credential in use, by value, wherever they show.
for var in ('AZURE_CLIENT_SECRET', 'MSI_SECRET', 'IDENTITY_HEADER'):
    v = os.environ.get(var, '')
    if v:
        text = text.replace(v, '<client-secret>' if var == 'AZURE_CLIENT_SECRET' else '<secret>')
# 3. Bearer tokens and every JWT (eyJ...), then the token fields of Entra ID's forms and answers.
text = re.sub(r'(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+', r'\1<token>', text)
text = re.sub(r'eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){0,2}', '<token>', text)  # also a random eyJ in key material
text = re.sub(r'(?i)(["\']?\b(?:access_token|refresh_token|id_token|client_secret|client_assertion|device_code)'
              r'["\']?\s*[:=]\s*["\']?)[^"\'&\s,}]+', r'\1<redacted>', text)
# 4. Subscription and tenant ids: the ones named, then any the text shows, each by a placeholder.
subs, tenants = [], []
def note(seen, v):
    if v and re.fullmatch(G, v) and v.lower() not in seen:
        seen.append(v.lower())
note(subs, os.environ.get('LIVE_SUBSCRIPTION_ID', ''))
note(tenants, os.environ.get('AZURE_TENANT_ID', ''))
for m in re.finditer(r'(?i)(?:/subscriptions/|"subscriptionId"\s*:\s*"|subscription[ \']+)(' + G + ')', text):
    note(subs, m.group(1))
for m in re.finditer(r'(?i)(?:"tenantId"\s*:\s*"|"tid"\s*:\s*"|tenant:?[ \']+|login\.[a-z.]+/)(' + G + ')', text):
    note(tenants, m.group(1))
for seen, name in ((subs, 'subscription'), (tenants, 'tenant')):
    for i, v in enumerate(seen):
        text = re.sub(re.escape(v), '<%s%s>' % (name, '' if i == 0 else '-%d' % (i + 1)), text, flags=re.I)
sys.stdout.write(text)
EOF
}

# Prints each argument shell-quoted on one line, as the command would be typed.
quote() {
	local out='' a
	for a in "$@"; do out+=$(printf '%q' "$a")' '; done
	printf '%s\n' "${out% }"
}

# Copies FILE into the raw report, cut at 256 KiB on a line boundary.
excerpt() {
	local size
	[ -s "$1" ] || { echo "(empty)"; return; }
	size=$(wc -c <"$1")
	if [ "$size" -le 262144 ]; then
		cat "$1"
		[ -z "$(tail -c 1 "$1")" ] || echo
	else
		head -c 262144 "$1" | sed '$d'
		echo "[... cut: $size bytes in all]"
	fi
}

# Appends case NAME's section (verdict, command line, exit status, outputs) to the raw report.
section() {
	{
		echo
		echo "== $1: $2"
		if [ -n "$last_cmd" ]; then
			echo "\$ $last_cmd"
			echo "exit: $rc"
			echo "-- stdout"
			excerpt "$work/$1.out"
			echo "-- stderr"
			excerpt "$work/$1.err"
		fi
	} >>"$work/report.body"
	cases+=("$1: $2")
	last_cmd=
}

# Counts case NAME as passed; prints it, with an optional note.
ok() {
	echo "ok   $1${2:+: $2}"
	pass=$((pass + 1))
	section "$1" "ok${2:+ ($2)}"
}

# Counts case NAME as failed; prints why.
bad() {
	echo "FAIL $1: $2"
	fail=$((fail + 1))
	section "$1" "FAIL ($2)"
}

# Counts case NAME as skipped; prints why.
skip() {
	echo "skip $1: $2"
	skipped=$((skipped + 1))
	last_cmd=
	section "$1" "skipped ($2)"
}

# Prints the error in FILE (azcmk's last "azcmk:" line, else the end) on one line, for a case's FAIL line.
gist() {
	local line
	line=$(grep '^azcmk: ' "$1" | tail -n 1)
	[ -n "$line" ] || line=$(tail -c 300 "$1" | tr -s '\n\t' '  ')
	printf '%s\n' "${line:0:300}"
}

# Runs azcmk with the global options for case NAME, stdin closed, stdout and stderr kept apart; sets rc.
run() {
	local name=$1
	shift
	local cmd=("$azcmk" "${global[@]}" "$@")
	last_cmd=$(quote "${cmd[@]}")
	"${limit[@]}" "${cmd[@]}" </dev/null >"$work/$name.out" 2>"$work/$name.err"
	rc=$?
}

# Checks case NAME's FILE with the JSON checker of KIND (and its ARGS); passes or fails the case.
judge() {
	local name=$1 kind=$2 file=$3 msg
	shift 3
	if [ "$rc" -eq 124 ]; then
		bad "$name" "timed out after ${AZCMK_LIVE_TIMEOUT:-1800} s"
	elif [ "$rc" -ne 0 ] && [ ! -s "$file" ]; then
		bad "$name" "exit $rc: $(gist "$work/$name.err")"
	elif msg=$("$py" "$work/validate.py" "$kind" "$file" "$rc" "$@" 2>&1); then
		ok "$name" "$msg"
		return 0
	else
		bad "$name" "$msg"
	fi
	return 1
}

# Fails case NAME unless it exited 0 and said "Done: RESOURCE now uses key NAME." (apply, rotate, refresh).
expect_done() {
	local name=$1 said
	said=$(sed -n 's/^Done: .* \(now uses key .*\)/\1/p' "$work/$name.out")
	if [ "$rc" -ne 0 ]; then
		bad "$name" "exit $rc: $(gist "$work/$name.err")"
		return 1
	elif [ -z "$said" ]; then
		bad "$name" "no 'Done: ... now uses key' in its output"
		return 1
	fi
	ok "$name" "$said"
}

# Sign-in, then the subscriptions: AZCMK_LIVE_SUBSCRIPTION must be one of them; sets subid.
case_signin() {
	run login -o json login
	judge login login "$work/login.out"
	run account-list -o json account list
	if judge account-list accounts "$work/account-list.out" "$AZCMK_LIVE_SUBSCRIPTION"; then
		subid=$("$py" "$work/validate.py" accounts "$work/account-list.out" 0 "$AZCMK_LIVE_SUBSCRIPTION")
	elif [[ $AZCMK_LIVE_SUBSCRIPTION =~ ^[0-9a-fA-F-]{36}$ ]]; then
		subid=$AZCMK_LIVE_SUBSCRIPTION
	fi
}

# The audit of the subscription, shallow and deep, as JSON.
case_audit() {
	run audit audit --subscription "$AZCMK_LIVE_SUBSCRIPTION" -o json
	judge audit audit "$work/audit.out" "$AZCMK_LIVE_SUBSCRIPTION" 0
	run audit-deep audit --subscription "$AZCMK_LIVE_SUBSCRIPTION" --deep -o json
	judge audit-deep audit "$work/audit-deep.out" "$AZCMK_LIVE_SUBSCRIPTION" 1
}

# Sets where, the options that find AZCMK_LIVE_RESOURCE: its subscription, when it is a name, not an ARM id.
where_args() {
	where=()
	case $AZCMK_LIVE_RESOURCE in
	/*) ;;
	*) [ -z "$subid" ] || where=(--subscription "$subid") ;;
	esac
}

# check and plan of AZCMK_LIVE_RESOURCE, read-only, as JSON (the plan to a temporary file); sets resid.
case_resource() {
	local key=() extra=() where=()
	if [ -z "${AZCMK_LIVE_RESOURCE:-}" ]; then
		skip check "AZCMK_LIVE_RESOURCE is not set"
		skip plan "AZCMK_LIVE_RESOURCE is not set"
		return
	fi
	where_args
	[ -z "${AZCMK_LIVE_KEY:-}" ] || key=(--key "$AZCMK_LIVE_KEY")
	read -r -a extra <<<"${AZCMK_LIVE_PLAN_ARGS:-}"
	run check -o json check "$AZCMK_LIVE_RESOURCE" "${where[@]}"
	judge check check "$work/check.out" "$AZCMK_LIVE_RESOURCE" &&
		resid=$("$py" "$work/validate.py" field "$work/check.out" resource)
	run plan plan "$AZCMK_LIVE_RESOURCE" "${where[@]}" "${key[@]}" "${extra[@]}" --format json --file "$work/plan.json"
	if [ "$rc" -eq 1 ] && grep -q "cannot build a plan" "$work/plan.err" && [ ! -e "$work/plan.json" ]; then
		ok plan "no plan: $(grep -m 1 "cannot build a plan" "$work/plan.err" | cut -c 1-140)"
	elif judge plan plan "$work/plan.json" "$AZCMK_LIVE_RESOURCE"; then
		cmp -s "$work/plan.json" "$work/plan.out" || bad plan-stdout "the plan printed is not the plan written"
	fi
}

# Prints the ARM id segment that follows NAME (compared ignoring case) in the ARM id ID.
arm_segment() {
	local IFS=/ parts i
	read -r -a parts <<<"$1"
	for ((i = 0; i + 1 < ${#parts[@]}; i++)); do
		[ "${parts[i],,}" = "${2,,}" ] && { echo "${parts[i + 1]}"; return; }
	done
}

# Prints why the write part must not run (nothing when it may): the resource must be in the group named.
write_refusal() {
	local rg sub
	[ -n "${AZCMK_LIVE_RESOURCE:-}" ] || { echo "AZCMK_LIVE_RESOURCE is not set"; return; }
	[ -n "${AZCMK_LIVE_RESOURCE_GROUP:-}" ] || { echo "AZCMK_LIVE_RESOURCE_GROUP is not set"; return; }
	[ -n "$resid" ] || { echo "the check did not tell the ARM id of $AZCMK_LIVE_RESOURCE"; return; }
	rg=$(arm_segment "$resid" resourceGroups)
	sub=$(arm_segment "$resid" subscriptions)
	if [ -z "$rg" ] || [ "${rg,,}" != "${AZCMK_LIVE_RESOURCE_GROUP,,}" ]; then
		echo "$resid is in resource group '$rg', not in AZCMK_LIVE_RESOURCE_GROUP '$AZCMK_LIVE_RESOURCE_GROUP'"
	elif [ -n "$subid" ] && [ "${sub,,}" != "${subid,,}" ]; then
		echo "$resid is not in subscription $AZCMK_LIVE_SUBSCRIPTION"
	fi
}

# Skips the write steps NAMES that an earlier failure left undone.
skip_rest() {
	local s
	for s; do skip "$s" "an earlier write step failed"; done
}

# The write part: a full plan, apply, check (must pass), rotate --new-version, refresh, check; stops at a failure.
case_write() {
	local why key=() extra=() wait=()
	why=$(write_refusal)
	if [ -n "$why" ]; then
		bad write-guard "refused to write: $why"
		return
	fi
	ok write-guard "$resid is in resource group $AZCMK_LIVE_RESOURCE_GROUP"
	[ -z "${AZCMK_LIVE_KEY:-}" ] || key=(--key "$AZCMK_LIVE_KEY")
	[ -z "${AZCMK_LIVE_PROPAGATION_WAIT:-}" ] || wait=(--propagation-wait "$AZCMK_LIVE_PROPAGATION_WAIT")
	read -r -a extra <<<"${AZCMK_LIVE_PLAN_ARGS:-}"
	run plan-full plan "$resid" "${key[@]}" "${extra[@]}" --show-bodies --file "$work/write.plan.json"
	judge plan-full plan "$work/write.plan.json" "$resid" ||
		{ skip_rest apply check-after-apply rotate refresh check-final; return; }
	keep_work=1 # until the end, the state directory may hold a journal that apply --resume needs
	run apply --yes "${wait[@]}" apply "$work/write.plan.json"
	expect_done apply || { skip_rest check-after-apply rotate refresh check-final; return; }
	run check-after-apply -o json check "$resid"
	judge check-after-apply check "$work/check-after-apply.out" "$resid" 1 || { skip_rest rotate refresh check-final; return; }
	run rotate rotate "$resid" --new-version --yes "${wait[@]}"
	expect_done rotate || { skip_rest refresh check-final; return; }
	run refresh refresh "$resid" --yes "${wait[@]}"
	expect_done refresh || { skip_rest check-final; return; }
	run check-final -o json check "$resid"
	judge check-final check "$work/check-final.out" "$resid" 1 && keep_work=
}

# Writes the report, redacted, to AZCMK_LIVE_REPORT (or ./azcmk-live-report.txt); prints where.
write_report() {
	local report=${AZCMK_LIVE_REPORT:-./azcmk-live-report.txt} c
	{
		echo "azcmk live report (tests/live/check-live.sh)"
		echo "version: $("$azcmk" --version 2>&1 | head -n 1)"
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "system: $(uname -srm)"
		echo "subscription: ${AZCMK_LIVE_SUBSCRIPTION}"
		echo "resource: ${AZCMK_LIVE_RESOURCE:-(none)}${resid:+ ($resid)}"
		echo "write part: $([ "${AZCMK_LIVE_WRITE:-}" = 1 ] && echo "yes, resource group ${AZCMK_LIVE_RESOURCE_GROUP:-(none)}" || echo no)"
		echo "result: $pass passed, $fail failed, $skipped skipped"
		echo "cases:"
		for c in "${cases[@]}"; do echo "  $c"; done
		cat "$work/report.body"
	} | LIVE_SUBSCRIPTION_ID=$subid "$py" "$work/redact.py" >"$report.tmp" && mv "$report.tmp" "$report" &&
		echo "report: $report (redacted)" || echo "check-live: could not write the report $report" >&2
}

# Cleans up on exit: keeps the work directory (and its journals) only when a write stopped half-way.
finish() {
	if [ -n "$keep_work" ] && [ -n "$work" ]; then
		echo "kept $work: its state/ holds the journal (XDG_STATE_HOME=$work/state azcmk apply --resume ...)"
	elif [ -n "$work" ]; then
		rm -rf "$work"
	fi
}

# Checks the redaction on a made-up sample: no secret, token, id or Authorization line may survive.
self_test() {
	local sub=12345678-90ab-4cde-8f01-234567890abc other=abcdef01-2345-4678-9abc-def012345678
	local ten=fedcba98-7654-4321-8fed-cba987654321 secret='s3cr.t+V4lue*(with)[regex]' out f=0
	local jwt=eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJlLXBhcnQ
	out=$(
		printf '%s\n' "azcmk: >   Authorization: Bearer $jwt" "proxy-authorization: Basic dXNlcjpwYXNz" \
			"id /subscriptions/$sub/resourceGroups/rg/x and /subscriptions/${other^^}/y" \
			"{\"tenantId\": \"$ten\", \"subscriptionId\": \"$sub\"}" "client_secret=$secret&scope=x" \
			"echoed: $secret" "{\"access_token\":\"$jwt\",\"refresh_token\":\"0.AAAA-opaque\"}" "token $jwt end" \
			"kept line" |
			AZURE_CLIENT_SECRET=$secret AZURE_TENANT_ID=$ten LIVE_SUBSCRIPTION_ID=$sub "$py" "$work/redact.py"
	)
	for leak in "$secret" "$jwt" eyJ "$sub" "$other" "$ten" authorization: 0.AAAA-opaque dXNlcjpwYXNz; do
		grep -qiF -- "$leak" <<<"$out" && { echo "FAIL redaction: '$leak' survives"; f=1; }
	done
	for want in "/subscriptions/<subscription>/resourceGroups/rg/x" "/subscriptions/<subscription-2>/y" \
		'"tenantId": "<tenant>"' "client_secret=<redacted>" "echoed: <client-secret>" "token <token> end" "kept line"; do
		grep -qF -- "$want" <<<"$out" || { echo "FAIL redaction: no '$want' in: $out"; f=1; }
	done
	[ "$f" -eq 0 ] && echo "ok   redaction: secrets, tokens, ids and Authorization lines replaced or removed"
	return "$f"
}

[ "${1:-}" = --self-test ] || [ -n "${AZCMK_LIVE_SUBSCRIPTION:-}" ] || not_configured
# python3 reads the JSON answers; its own path, once, as a version manager's shim is slow to start each time.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ ! -x "$py" ]; then
	echo "check-live: python3 is needed to read the JSON answers" >&2
	exit 2
fi
umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/azcmk-live.XXXXXX") || exit 2
trap finish EXIT
write_validator
write_redactor
if [ "${1:-}" = --self-test ]; then
	self_test
	exit
fi

if [ -n "${AZCMK:-}" ]; then
	azcmk=$AZCMK
elif [ -n "${top_builddir:-}" ]; then
	azcmk=$top_builddir/src/azcmk
else
	azcmk=$(command -v azcmk) || { echo "check-live: no azcmk: set AZCMK or build it" >&2; exit 2; }
fi
global=()
[ -z "${AZCMK_LIVE_CA_FILE:-}" ] || global+=(--ca-file "$AZCMK_LIVE_CA_FILE")
[ -z "${AZCMK_LIVE_AUTH:-}" ] || global+=(--auth "$AZCMK_LIVE_AUTH")
[ -z "${AZCMK_LIVE_CLOUD:-}" ] || global+=(--cloud "$AZCMK_LIVE_CLOUD")
[ "${AZCMK_LIVE_DEBUG:-}" != 1 ] || global+=(--debug)
limit=()
! command -v timeout >/dev/null 2>&1 || limit=(timeout -k 10 "${AZCMK_LIVE_TIMEOUT:-1800}")
# Journals, history and the last audit go to a private directory, not the operator's own.
export XDG_STATE_HOME=$work/state LC_ALL=C NO_COLOR=1
: >"$work/report.body"

echo "check-live: $("$azcmk" --version 2>&1 | head -n 1), subscription $AZCMK_LIVE_SUBSCRIPTION$(
	[ "${AZCMK_LIVE_WRITE:-}" = 1 ] && echo ", WRITES to ${AZCMK_LIVE_RESOURCE:-?} in ${AZCMK_LIVE_RESOURCE_GROUP:-?}")"
case_signin
case_audit
case_resource
[ "${AZCMK_LIVE_WRITE:-}" != 1 ] || case_write
write_report
echo "$pass passed, $fail failed$([ "$skipped" -eq 0 ] || echo " ($skipped skipped)")"
[ "$fail" -eq 0 ]
