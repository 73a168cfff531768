# Shared by the tmux-driven wizard tests (sourced): a private tmux server ($T), results, keys, and waits
# that poll the screen of the window named w instead of sleeping. The caller's EXIT trap kills the server.
T="tmux -L azcmk-ui-$$ -f /dev/null"
pass=0 fail=0

if ! command -v tmux >/dev/null 2>&1; then
	echo "skip: tmux is not installed (apt-get install tmux)"
	exit 77
fi

# A session that outlives the others: tmux ends its server when its last session is killed, and a
# new-session sent while it ends is lost, so the tests' own sessions come and go beside this one.
$T new-session -d -s keep -x 80 -y 24 "sleep 86400" || exit 99

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); $T capture-pane -p -t w 2>/dev/null | sed 's/^/     | /'; }
keys() { $T send-keys -t w "$@"; }

# wait_for TEXT [NAME]: polls the screen for TEXT for up to 30 s; records a failure when it never comes.
wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		if $T capture-pane -p -t w 2>/dev/null | grep -qF -- "$1"; then
			[ -n "${2:-}" ] && ok "$2"
			return 0
		fi
		sleep 0.05
		i=$((i + 1))
	done
	bad "${2:-wait}: '$1' never appeared"
	return 1
}

# gone TEXT NAME: polls until TEXT is no longer on the screen.
gone() {
	i=0
	while [ $i -lt 600 ]; do
		$T capture-pane -p -t w | grep -qF -- "$1" || { ok "$2"; return 0; }
		sleep 0.05
		i=$((i + 1))
	done
	bad "$2: '$1' stayed"
}

# summary: prints the counts and returns the scripts' status.
summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
