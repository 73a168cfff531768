#!/bin/sh
# Tests a fleet at scale against the simulator: fix --all over a generated 40-resource tenant (4 subscriptions,
# 2 regions, a central key subscription) makes one fleet plan whose apply fixes every planned resource and
# leaves only the skipped ones failing; then a storm of 429s on one vault's keys and role assignments slows
# that vault only: every resource ends done, azcmk retries each 429 after its Retry-After, and the other
# vault's requests are never throttled nor retried.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
# shellcheck source=tests/sim/simlib.sh disable=SC2154
. "$top_srcdir/tests/sim/simlib.sh"
scen=$work/tenant.json

# The tenant, written at test time, and what the test expects of it.
python3 "$top_srcdir/tests/sim/gen-fleet-tenant.py" "$scen" "$work/expect.json" ||
	{ echo "cannot generate the tenant"; exit 99; }
sim_start "$scen"
# admin METHOD PATH [BODY]: calls the simulator's admin endpoint; prints the body.
admin() {
	curl -s -x "$HTTPS_PROXY" --cacert "$work/ca.pem" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} \
		"https://sim.local$2"
}

# check NAME PYTHON-EXPRESSION FILE: holds a JSON file to an expression over d (the document) and e (what the
# generator expects).
check() {
	if python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
e = json.load(open(sys.argv[3]))
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$2" "$3" "$work/expect.json" 2>"$work/check.err"; then
		ok "$1"
	else
		# What was skipped, and why, says most about a wrong count.
		bad "$1: $(head -c 600 "$3") $(cat "$work/check.err") skipped: $(python3 -c 'import json, sys
print([(s.get("id", "").rsplit("/", 1)[-1], s.get("rule"), s.get("reason")) for s in json.load(open(sys.argv[1])).get("skipped", [])])' "$3" 2>/dev/null)"
	fi
}

# --- Part 1: one fleet plan for the whole tenant, applied, then audited again. ---

az audit -o json >"$work/audit.json" 2>"$work/audit.err"
[ $? -eq 1 ] && ok "the audit finds resources without a customer-managed key" || bad "audit: $(cat "$work/audit.err")"
check "the audit sees 40 resources in 4 subscriptions, 38 on Microsoft-managed keys and eligible" \
	'd["summary"]["resources"] == 40 and d["summary"]["subscriptions"] == 4 and d["summary"]["customerManaged"] == 0 and
	 len({f["resourceId"].lower() for f in d["findings"] if f["rule"] == "resource.cmk"}) == 38' "$work/audit.json"
check "the audit finds not eligible or not ready exactly the resources the tenant made so" \
	'{(f["resourceId"].lower(), f["rule"]) for f in d["findings"] if f["rule"] in ("resource.eligible", "resource.ready")} ==
	 {(k.lower(), v) for k, v in e["skip"].items()}' "$work/audit.json"

# Without --confirm-irreversible every Foundry account is skipped, saying why; the rest is planned.
az fix --all --dry-run -o json >"$work/review1.json" 2>"$work/review1.err"
rc=$?
[ $rc -eq 0 ] && ok "fix --all --dry-run plans the tenant and stops" || bad "fix --all: exit $rc: $(cat "$work/review1.err")"
check "without --confirm-irreversible: 27 planned, the 10 Foundry accounts and the 3 unfixable skipped" \
	'len(d["resources"]) == 27 and len(d["skipped"]) == 13 and
	 sorted(s["id"].rsplit("/", 1)[1] for s in d["skipped"] if "--confirm-irreversible" in s["reason"]) ==
	 sorted(n for n, r in e["resources"].items() if r["service"] == "fdy") and
	 {s["id"] for s in d["skipped"] if "--confirm-irreversible" not in s["reason"]} == set(e["skip"])' \
	"$work/review1.json"

# With it: ONE fleet plan of 37 resources; only the three unfixable ones are skipped, each with a reason.
az fix --all --dry-run --confirm-irreversible -o json --file "$work/fleet.json" >"$work/review.json" 2>"$work/review.err"
rc=$?
[ $rc -eq 0 ] && ok "fix --all --confirm-irreversible --dry-run builds the fleet plan" ||
	bad "fix --all --confirm-irreversible: exit $rc: $(cat "$work/review.err")"
check "one fleet plan: 37 resources planned, the 3 unfixable skipped with their rule and a reason" \
	'd["fleet"] and d["file"] and len(d["resources"]) == 37 and len(d["skipped"]) == 3 and
	 {s["id"]: s["rule"] for s in d["skipped"]} == e["skip"] and all(s["reason"] for s in d["skipped"]) and
	 {r["id"] for r in d["resources"]} == {r["id"] for r in e["resources"].values()} - set(e["skip"])' \
	"$work/review.json"
check "a resource that cannot use a customer-managed key is skipped saying so, not sent to fix" \
	'all("no customer-managed key is possible" in s["reason"] and "azcmk fix" not in s["reason"]
	     for s in d["skipped"] if s["rule"] == "resource.eligible") and
	 any(s["rule"] == "resource.eligible" for s in d["skipped"])' "$work/review.json"
check "every key goes to the vault in its resource's own region, whatever the service" \
	'all(r["vault"].endswith("/kv-fleet-" + e["resources"][r["id"].rsplit("/", 1)[1]]["region"]) for r in d["resources"])' \
	"$work/review.json"
check "the fleet plan's own file holds the same 37 plans and 3 skipped" \
	'len(d["plans"]) == 37 and len(d["skipped"]) == 3' "$work/fleet.json"
check "the keys go to the central subscription's two vaults, an AI account's in its own region" \
	'{r["vault"].rsplit("/", 1)[1] for r in d["resources"]} == {"kv-fleet-westus3", "kv-fleet-eastus2"} and
	 all(r["vault"].endswith("/kv-fleet-" + e["resources"][r["id"].rsplit("/", 1)[1]]["region"])
	     for r in d["resources"] if r["service"] in ("openai", "foundry"))' "$work/review.json"

az --yes --propagation-wait 0 apply --parallel 8 "$work/fleet.json" >"$work/apply.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^Fleet plan [0-9a-f]\{8\}: 37 done, 0 failed, 0 stopped, 3 skipped, 0 not started\.$" \
	"$work/apply.out" && [ "$(grep -c '^\[[0-9]*/37\] done ' "$work/apply.out")" -eq 37 ]; then
	ok "apply of the fleet: 37 done, none failed, 3 skipped"
else
	bad "apply: exit $rc: $(tail -c 800 "$work/apply.out")"
fi

# reaudit NAME FLEET: a fresh audit finds every planned resource on a customer-managed key with no blocker
# nor warning (a Foundry account's note that its key must stay in its vault is all), and the skipped ones still
# failing as before.
reaudit() {
	az audit -o json >"$work/reaudit.json" 2>/dev/null
	python3 - "$work/reaudit.json" "$2" "$work/expect.json" >"$work/reaudit.err" 2>&1 <<'EOF'
import json, sys
d, fleet, e = (json.load(open(a)) for a in sys.argv[1:4])
planned = {p["resource"].lower() for p in fleet["plans"]}
skipped = {k.lower(): v for k, v in e["skip"].items()}
if d["summary"]["customerManaged"] != len(planned):
    sys.exit("%d resources on a customer-managed key, not %d" % (d["summary"]["customerManaged"], len(planned)))
left = {(f["resourceId"].lower(), f["rule"], f["severity"]) for f in d["findings"] if f["resourceId"].lower() in planned}
notes = {x for x in left if x[1:] == ("resource.same-vault", "note") and "/accounts/fdy-" in x[0]}
if left != notes:
    sys.exit("planned resources still failing: %s" % sorted(left - notes))
if len(notes) != 10:
    sys.exit("%d Foundry notes, not 10" % len(notes))
failing = {f["resourceId"].lower() for f in d["findings"] if f["severity"] != "note"}
if failing != set(skipped):
    sys.exit("failing %s, not the skipped %s" % (sorted(failing), sorted(skipped)))
if {(f["resourceId"].lower(), f["rule"]) for f in d["findings"] if f["severity"] == "blocker"} != set(skipped.items()):
    sys.exit("the skipped ones fail otherwise than before")
EOF
	[ $? -eq 0 ] && ok "$1" || bad "$1: $(cat "$work/reaudit.err")"
}
reaudit "the re-audit finds the 37 planned resources clean and only the 3 skipped ones failing" "$work/fleet.json"

# --- Part 2: a 429 storm on one vault slows that vault only. ---

# The tenant as it was, a state directory of its own (no journal of part 1), the same fleet planned again.
admin POST /reset >/dev/null
export XDG_STATE_HOME="$work/state2"
az audit -o json >/dev/null 2>&1
az fix --all --dry-run --confirm-irreversible -o json --file "$work/fleet2.json" >"$work/review2.json" 2>/dev/null
check "after a reset the tenant gives the same fleet of 37" 'len(d["resources"]) == 37' "$work/review2.json"
# The storm: the throttled vault's data plane and its role assignments answer 429 with Retry-After: 1, four
# times per rule (a request is tried five times, so none may fail for want of tries), on disjoint paths.
hot=kv-fleet-eastus2 cold=kv-fleet-westus3
admin DELETE /log >/dev/null
for rule in \
	'{"host": "'$hot'.vault.azure.net", "path": "/keys/*/create", "status": 429, "retryAfter": 1, "times": 4}' \
	'{"host": "'$hot'.vault.azure.net", "path": "/keys/*/versions", "status": 429, "retryAfter": 1, "times": 4}' \
	'{"host": "'$hot'.vault.azure.net", "path": "/keys/*/rotationpolicy", "status": 429, "retryAfter": 1, "times": 4}' \
	'{"host": "management.azure.com", "path": "*/vaults/'$hot'/*roleAssignments*", "status": 429, "retryAfter": 1, "times": 4}'; do
	admin POST /faults "$rule" >"$work/fault.out"
	grep -q '"status"' "$work/fault.out" || bad "the simulator refused the fault rule $rule: $(cat "$work/fault.out")"
done
az --yes --propagation-wait 0 apply --parallel 8 "$work/fleet2.json" >"$work/apply2.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q ": 37 done, 0 failed, 0 stopped, 3 skipped, 0 not started\.$" "$work/apply2.out"; then
	ok "under a 429 storm on one vault every resource of the fleet ends done"
else
	bad "apply in the storm: exit $rc: $(tail -c 800 "$work/apply2.out")"
fi
admin GET /faults >"$work/faults-left.json"
check "the storm was served in full (16 throttled answers)" 'd == []' "$work/faults-left.json"
admin GET /log >"$work/log.json"
python3 - "$work/log.json" "$work/fleet2.json" "$work/review2.json" "$hot" "$cold" >"$work/storm.out" 2>&1 <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))["value"]
fleet, review, hot, cold = json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), sys.argv[4], sys.argv[5]

def vault_of(e):
    """The vault a request is about (its data plane or an ARM path under it), or None."""
    if e["host"].lower().endswith(".vault.azure.net"):
        return e["host"].split(".", 1)[0].lower()
    p = e["path"].lower()
    for v in (hot, cold):
        if "/vaults/%s/" % v in p + "/":
            return v
    return None

errors = []
throttled = [e for e in log if e["status"] == 429]
if len(throttled) != 16 or any(vault_of(e) != hot for e in throttled):
    errors.append("%d answers 429, not 16 all on %s" % (len(throttled), hot))
# Retry-After honoured: the next request with the same client request id comes a whole second later or more
# (the log's clock counts seconds), and is not itself the end of the story (a 429 is never final).
for t in throttled:
    later = [e for e in log if e["seq"] > t["seq"] and e.get("clientRequestId") == t.get("clientRequestId")]
    if not t.get("clientRequestId") or not later:
        errors.append("no retry after the 429 of %s %s" % (t["method"], t["path"]))
    elif later[0]["time"] < t["time"] + 1:
        errors.append("%s %s retried before its Retry-After" % (t["method"], t["path"]))
    elif later[-1]["status"] == 429 or later[-1]["status"] >= 500:
        errors.append("%s %s ended on %d" % (t["method"], t["path"], later[-1]["status"]))
# The other vault: nothing throttled, nothing failed by the server, no request sent twice but after Key Vault's
# 401 challenge.
coldlog = [e for e in log if vault_of(e) == cold]
if not coldlog:
    errors.append("no request to %s" % cold)
if any(e["status"] == 429 or e["status"] >= 500 or e.get("fault") for e in coldlog):
    errors.append("%s was throttled or failed" % cold)
seen = {}
for e in coldlog:
    seen.setdefault(e.get("clientRequestId"), []).append(e["status"])
for crid, statuses in seen.items():
    if len(statuses) > 1 and statuses[:-1] != [401] * (len(statuses) - 1):
        errors.append("%s retried a request: %s" % (cold, statuses))
# Every resource on the other vault saved its key reference, once, first time.
coldres = {r["id"].lower() for r in review["resources"] if r["vault"].lower().endswith("/" + cold)}
saves = {}
for e in log:
    if e["method"] in ("PUT", "PATCH") and e["host"] == "management.azure.com" and e["path"].lower() in coldres:
        saves.setdefault(e["path"].lower(), []).append(e)
if set(saves) != coldres or any(s[-1]["status"] >= 300 for s in saves.values()):
    errors.append("resources on %s without a successful save: %s" % (cold, sorted(coldres - set(saves))))
if errors:
    sys.exit("\n".join(errors))
# What the log says of the order (shown, not asserted: it depends on speed).
last_hot = max(e["seq"] for e in log if vault_of(e) == hot)
last_cold_save = max(s[-1]["seq"] for s in saves.values())
during = sum(1 for s in saves.values() if throttled[0]["seq"] < s[-1]["seq"] < throttled[-1]["seq"])
print("note: %d of the %d resources on %s saved during the storm; the last save there was %s %s's last request"
      % (during, len(coldres), cold, "before" if last_cold_save < last_hot else "after", hot))
EOF
if [ $? -eq 0 ]; then
	ok "each 429 was retried after its Retry-After; the other vault was never throttled nor retried"
	cat "$work/storm.out"
else
	bad "the storm's log: $(cat "$work/storm.out")"
fi
reaudit "after the storm the re-audit finds the 37 planned resources clean" "$work/fleet2.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
