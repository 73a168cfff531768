#!/bin/sh
# Checks the project's own rules: man pages lint-clean, curses only in ui/, no banned
# functions, a purpose comment atop every C file, POTFILES.in complete, catalogues valid.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
cd "$top_srcdir" || exit 99
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

if command -v mandoc >/dev/null 2>&1; then
	for m in man/*.1; do
		out=$(mandoc -Tlint -W warning "$m" 2>&1)
		[ -z "$out" ] && ok "mandoc $m" || bad "mandoc $m: $out"
	done
else
	echo "skip mandoc: not installed (apt-get install mandoc)"
fi

hits=$(grep -rlE '#include *[<"](n?curses|ncursesw/|panel|form|menu)\.h' src 2>/dev/null)
[ -z "$hits" ] && ok "curses only in ui/" || bad "curses included outside ui/: $hits"

hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)\s*\(' src ui tests --include='*.c' 2>/dev/null)
[ -z "$hits" ] && ok "no banned functions" || bad "banned functions: $hits"

missing=
for f in $(find src ui tests -name '*.c' 2>/dev/null); do
	head -n 1 "$f" | grep -q '^/\* .* \*/$' || missing="$missing $f"
done
[ -z "$missing" ] && ok "purpose comment atop every C file" || bad "no one-line purpose comment:$missing"

missing=
for f in $(grep -rlE '\b_\("|\bN_\("|\bP_\("' src ui 2>/dev/null | sort); do
	grep -qx "$f" po/POTFILES.in || missing="$missing $f"
done
[ -z "$missing" ] && ok "po/POTFILES.in lists every file with translatable text" || bad "missing from po/POTFILES.in:$missing"
for f in $(grep -v '^#' po/POTFILES.in); do
	[ -f "$f" ] || bad "po/POTFILES.in names $f, which does not exist"
done

if command -v msgfmt >/dev/null 2>&1; then
	for p in po/*.po; do
		[ -f "$p" ] || continue
		msgfmt --check -o /dev/null "$p" 2>"${TMPDIR:-/tmp}/msgfmt.$$" && ok "msgfmt --check $p" ||
			bad "msgfmt --check $p: $(cat "${TMPDIR:-/tmp}/msgfmt.$$")"
		rm -f "${TMPDIR:-/tmp}/msgfmt.$$"
	done
fi

# Commands stand side by side: no src/cmd-*.c calls a cmd_ function another one defines (what they
# share lives below them, in src/planflow.c).
hits=
for f in src/cmd-*.c; do
	for fn in $(grep -oE '\bcmd_[a-z_]+\(' "$f" | tr -d '(' | sort -u); do
		grep -qE "^[a-z].*\b$fn\(" "$f" || hits="$hits $f:$fn"
	done
done
[ -z "$hits" ] && ok "no command calls another" || bad "a command calls another's function (move what they share to src/planflow.c):$hits"

# The help of both programs fits an 80-column terminal .
for prog in azcmk azcmk-sim; do
	exe=$top_builddir/src/$prog
	[ -x "$exe" ] || continue
	wide=$(LC_ALL=C "$exe" --help 2>&1 | awk '{ if (length($0) > 79) print }' | head -1)
	[ -z "$wide" ] && ok "$prog --help fits 80 columns" || bad "$prog --help has a line over 79 columns: $wide"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
