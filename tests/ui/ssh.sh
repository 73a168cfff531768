#!/bin/sh
# The wizard over a real SSH connection: Debian's OpenSSH server on a loopback port (throwaway keys, a private
# config), the wizard driven through ssh -tt inside tmux with TERM and the UTF-8 locale passed as operators pass
# them (the pty request, SendEnv/AcceptEnv LANG LC_*), the connection dropped in the middle of an apply (the ssh
# client killed): azcmk gets SIGHUP from the hung-up terminal, stops cleanly with its journal intact, and a second
# session's non-interactive apply --resume finishes the plan. Both sessions reach one azcmk-sim (the demo tenant),
# whose state, like azcmk's state directory, outlives them (azcmk --demo's simulator lives and dies inside the
# wizard's process, so the resume could not find what the first session changed). Skipped (77) where sshd or ssh
# is missing.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
sshd=/usr/sbin/sshd

for prog in "$sshd" ssh ssh-keygen curl python3; do
	command -v "$prog" >/dev/null 2>&1 ||
		{ echo "skip: $prog is not installed (apt-get install openssh-server openssh-client curl python3)"; exit 77; }
done

work=$(mktemp -d)
chmod 700 "$work"
simpid='' sshdpid=''
. "$top_srcdir/tests/ui/lib.sh"
# The wizard's own process is ended too if the test stops before the hang-up ended it.
trap '$T kill-server 2>/dev/null; [ -s "$work/azcmk.pid" ] && kill "$(cat "$work/azcmk.pid")" 2>/dev/null
	[ -n "$sshdpid" ] && kill "$sshdpid" 2>/dev/null; [ -n "$simpid" ] && kill "$simpid" 2>/dev/null
	rm -rf "$work"' EXIT

# As root, sshd needs its privilege separation directory, which the openssh-server package creates at boot.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd || { echo "skip: cannot create /run/sshd, which sshd needs when run as root"; exit 77; }
fi

# The simulated demo tenant, outside both SSH sessions so that the second finds what the first changed.
"$sim" --scenario "$top_srcdir/tests/scenarios/demo.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
	>/dev/null 2>&1 &
simpid=$!
i=0
while [ ! -s "$work/ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
proxy=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/ports.json")
[ -n "$proxy" ] || { echo "the simulator did not start"; exit 99; }

# Throwaway keys: the server's host key and the user's key, authorized for this user only.
ssh-keygen -q -t ed25519 -N '' -C azcmk-test-host -f "$work/host_key" || exit 99
ssh-keygen -q -t ed25519 -N '' -C azcmk-test-user -f "$work/user_key" || exit 99
cp "$work/user_key.pub" "$work/authorized_keys"

# free_port: prints a loopback TCP port nobody listens on right now.
free_port() {
	python3 -c 'import socket
s=socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_sshd PORT: runs sshd on PORT in the foreground (-D, log on stderr); true once it listens.
start_sshd() {
	cat >"$work/sshd_config" <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $(id -un)
AcceptEnv LANG LC_*
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
EOF
	"$sshd" -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
	sshdpid=$!
	i=0
	while [ $i -lt 200 ]; do
		grep -q "Server listening on 127.0.0.1 port $1" "$work/sshd.log" && return 0
		kill -0 "$sshdpid" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	kill "$sshdpid" 2>/dev/null
	wait "$sshdpid" 2>/dev/null
	sshdpid=
	return 1
}

# A port taken between free_port and sshd's bind is tried again with another.
tries=0
until port=$(free_port) && start_sshd "$port"; do
	tries=$((tries + 1))
	if [ $tries -ge 5 ]; then
		echo "sshd did not start; its log:"
		sed 's/^/  | /' "$work/sshd.log"
		exit 99
	fi
done

printf '[127.0.0.1]:%s %s\n' "$port" "$(cat "$work/host_key.pub")" >"$work/known_hosts"
cat >"$work/ssh_config" <<EOF
Host azcmk-test
	HostName 127.0.0.1
	Port $port
	User $(id -un)
	IdentityFile $work/user_key
	IdentitiesOnly yes
	IdentityAgent none
	BatchMode yes
	StrictHostKeyChecking yes
	UserKnownHostsFile $work/known_hosts
	GlobalKnownHostsFile /dev/null
	UpdateHostKeys no
	ControlMaster no
	ControlPath none
	SendEnv LANG LC_*
	LogLevel ERROR
EOF

# What azcmk needs on the far side, on its command line there: the demo operator's credential (the simulator's
# own, not a secret), the simulator's proxy, and the state directory both sessions share.
renv="HOME=$work XDG_STATE_HOME=$work/state HTTPS_PROXY=http://127.0.0.1:$proxy \
AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111 AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a \
AZURE_CLIENT_SECRET=demo-secret AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9"
ssh_cmd="ssh -F $work/ssh_config"

# A first connection, to tell a server that refuses this user from the test's own faults.
if ! $ssh_cmd azcmk-test true </dev/null >"$work/probe.out" 2>&1; then
	if grep -q "account is locked" "$work/sshd.log"; then
		echo "skip: sshd refuses $(id -un), whose account is locked (sshd without PAM refuses locked accounts)"
		exit 77
	fi
	echo "FAIL the test's sshd refused the connection: $(cat "$work/probe.out")"
	sed 's/^/  | /' "$work/sshd.log"
	exit 1
fi
ok "ssh: the throwaway server takes the throwaway key on port $port"

# The wizard's session, in a window of its own: ssh -tt under the locale and TERM operators have; the far side
# records what arrived, writes the process id it then becomes, and becomes azcmk (exec), which thus leads the
# session and is the process the hang-up signals. Its standard error goes to a file: the terminal will be gone.
cat >"$work/session.sh" <<EOF
#!/bin/sh
# The first SSH session: the wizard, applying with 30 s of propagation wait (an apply step slow enough to be
# interrupted for certain).
TERM=screen-256color LANG=C.UTF-8 LC_ALL=C.UTF-8
export TERM LANG LC_ALL
$ssh_cmd -tt azcmk-test 'printf "%s %s %s\n" "\$TERM" "\$LANG" "\$LC_ALL" >$work/remote-env; echo \$\$ >$work/azcmk.pid; \
exec env $renv $azcmk --ca-file $work/ca.pem --auth environment --propagation-wait 30 2>$work/wizard.err'
echo SSH-EXIT=\$?
sleep 60
EOF
$T new-session -d -s w -x 100 -y 30 "sh $work/session.sh"
$T set-option -g escape-time 0 >/dev/null

# pick TEXT: filters the list on the screen for TEXT and chooses the first match.
pick() {
	keys / ; keys -l "$1" ; keys Enter
	wait_for "(1 of " || return 1
	keys Enter
}

# walk: the wizard from sign-in to apply's confirmation, for an Azure OpenAI account, a key, the role.
walk() {
	wait_for "[x] Contoso Health Prod" "wizard: the first screen arrives over SSH" || return 1
	keys Enter
	wait_for "Findings: " "wizard: the findings" || return 1
	keys v
	wait_for "Every resource: " || return 1
	pick "oai-ch-triage"
	wait_for "The identity that is to reach the key" "wizard: the identity step" || return 1
	keys Enter
	wait_for "kv-ch-prod-ai " || return 1
	pick "kv-ch-prod-ai "
	wait_for "Keys in kv-ch-prod-ai" || return 1
	pick "cmk-ai-spare "
	wait_for "Versions of the key in kv-ch-prod-ai" || return 1
	keys Enter
	wait_for "the plan grants it the role Key Vault Crypto" "wizard: role and prerequisites" || return 1
	keys Enter
	wait_for " will use its " || return 1
	keys Enter
	wait_for "Save key cmk-ai-spare on" "wizard: the plan" || return 1
	keys a
	wait_for "Type yes and Enter" || return 1
	keys -l yes ; keys Enter
}

# journal_check WANT: holds the one journal in the state directory to its plan; WANT is "stopped" (entries
# all whole and the plan's own, a step begun, not every step done) or "finished" (every step done).
journal_check() {
	python3 - "$1" "$work/state/azcmk" <<'EOF'
import glob, json, sys
want, d = sys.argv[1], sys.argv[2]
js = glob.glob(d + "/*.journal")
if len(js) != 1:
    sys.exit("expected one journal in %s, found %s" % (d, js))
plan = json.load(open(js[0][:-len(".journal")] + ".plan.json"))
pid = js[0].rsplit("/", 1)[1][:-len(".journal")]
lines = open(js[0]).read().split("\n")
if lines[-1] != "":
    sys.exit("the journal's last line is cut short")
entries = [json.loads(l) for l in lines[:-1]]
if not entries or entries[0].get("event") != "begin":
    sys.exit("the journal does not begin with its begin entry")
if any(e.get("plan") != pid for e in entries):
    sys.exit("an entry of the journal names another plan")
steps = len(plan["steps"])
done = {e["step"] for e in entries if e.get("event") == "done"}
started = {e["step"] for e in entries if e.get("event") == "start"}
if want == "stopped" and (not started or len(done) >= steps):
    sys.exit("the journal should hold a begun, unfinished apply: %d of %d steps done, %d begun"
             % (len(done), steps, len(started)))
if want == "finished" and len(done) != steps:
    sys.exit("the journal should record all %d steps done, not %d" % (steps, len(done)))
print(js[0][:-len(".journal")] + ".plan.json")
EOF
}

if walk; then
	# The plan's own step 2 is titled "Wait until the new access" from the start, so wait for the apply's
	# progress line that only the running wait prints: step 1 is then begun (and done), the apply unfinished.
	wait_for "waiting for Azure RBAC to apply the new access" \
		"apply over SSH: waiting for access to take effect, mid-apply"
	read -r got <"$work/remote-env" 2>/dev/null
	if [ "${got:-}" = "screen-256color C.UTF-8 C.UTF-8" ]; then
		ok "ssh: TERM came with the pty request, LANG and LC_ALL through SendEnv/AcceptEnv"
	else
		bad "ssh: the far side had TERM, LANG, LC_ALL '${got:-}'"
	fi
	azpid=$(cat "$work/azcmk.pid")
	if kill -0 "$azpid" 2>/dev/null; then ok "azcmk is running on the far side (pid $azpid)"; else bad "azcmk is not running"; fi

	# The connection drops: the ssh client dies without a word; sshd closes the terminal, which hangs up.
	pkill -KILL -P "$($T list-panes -t w -F '#{pane_pid}')" -x ssh
	wait_for "SSH-EXIT=137" "the ssh client is killed mid-apply"
	i=0
	while kill -0 "$azpid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	if kill -0 "$azpid" 2>/dev/null; then
		bad "azcmk still runs after the connection dropped"
	else
		ok "azcmk ends when the connection drops"
	fi
	# The wizard says this only when SIGHUP, SIGINT or SIGTERM stopped it; of these only the hang-up's SIGHUP came.
	if grep -q "stopped by a signal; a plan being applied can be continued with 'azcmk apply --resume PLAN'" \
		"$work/wizard.err"; then
		ok "azcmk says the signal (SIGHUP) stopped it, and how to resume"
	else
		bad "azcmk's standard error lacks the signal's message: $(cat "$work/wizard.err")"
	fi
	if plan=$(journal_check stopped 2>"$work/journal.err"); then
		ok "the journal is intact: whole entries of the plan, a step begun, not all done"
	else
		bad "journal after the hang-up: $(cat "$work/journal.err")"
	fi

	# A second session, non-interactive, finishes the plan.
	if [ -n "${plan:-}" ] && $ssh_cmd azcmk-test "exec env $renv $azcmk --ca-file $work/ca.pem --auth environment \
		--yes --propagation-wait 0 apply --resume $plan" </dev/null >"$work/resume.out" 2>&1; then
		ok "a second SSH session's apply --resume finishes the plan"
	else
		bad "apply --resume over SSH failed: $(tail -5 "$work/resume.out")"
	fi
	if journal_check finished >/dev/null 2>"$work/journal.err"; then
		ok "the journal records every step done"
	else
		bad "journal after the resume: $(cat "$work/journal.err")"
	fi
	id=/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-prod-triage/providers/Microsoft.CognitiveServices/accounts/oai-ch-triage
	if curl -s -x "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" "https://sim.local/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
r=[r for r in d["resources"] if r["id"].lower() == sys.argv[1].lower()][0]
sys.exit(0 if r["properties"]["encryption"]["keyVaultProperties"]["keyName"] == "cmk-ai-spare" else 1)' "$id"; then
		ok "the simulator holds the key on oai-ch-triage after the resume"
	else
		bad "the simulator lacks key cmk-ai-spare on oai-ch-triage"
	fi
fi

summary
