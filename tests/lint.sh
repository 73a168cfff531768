#!/bin/sh
# Checks the project's own rules: man pages lint-clean, curses only in ui/, each folder including
# only from the folders below it, no banned functions, a purpose comment atop every C file,
# POTFILES.in complete, catalogues valid, every C file laid out as .clang-format says.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=$(cd "${top_builddir:-.}" && pwd)
cd "$top_srcdir" || exit 99
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

if command -v mandoc >/dev/null 2>&1; then
	for m in man/*.1; do
		[ -f "$m" ] || continue
		out=$(mandoc -Tlint -W warning "$m" 2>&1)
		[ -z "$out" ] && ok "mandoc $m" || bad "mandoc $m: $out"
	done
	# The pages make fills in (man/NAME.1.in): linted with @pkgdatadir@ as a default ./configure sets it,
	# and no other @token@ may be left, since make replaces only that one. (man/*.1, made by an in-tree
	# build, are linted above as they are.)
	for m in man/*.1.in; do
		[ -f "$m" ] || continue
		out=$(sed -e 's|@pkgdatadir@|/usr/local/share/azcmk|g' -e 's|@bindir@|/usr/local/bin|g' "$m" |
			mandoc -Tlint -W warning 2>&1 |
			sed "s|<stdin>|$m|")
		left=$(sed -e 's|@pkgdatadir@||g' -e 's|@bindir@||g' "$m" | grep -n '@[A-Za-z_]*@' | head -3)
		[ -n "$left" ] && out="$out a token make does not replace: $left"
		[ -z "$out" ] && ok "mandoc $m" || bad "mandoc $m: $out"
	done
else
	echo "skip mandoc: not installed (apt-get install mandoc)"
fi

# Curses only in ui/: the rest of azcmk is driven by commands and tests.
curses='#[[:space:]]*include[[:space:]]*[<"](ncursesw/|ncurses/)?(n?curses|panel|form|menu)\.h[">]'
hits=$(grep -rlE "$curses" src tests --include='*.c' --include='*.h' 2>/dev/null | paste -sd ' ' -)
[ -z "$hits" ] && ok "curses only in ui/" ||
	bad "curses included outside ui/: $hits; only ui/ draws: move the drawing to ui/"

# Each folder includes from the folders below it only, as Makefile.am's include paths allow (DESIGN.md,
# Architecture). home FILE HEADER prints the folder of the project header that FILE's #include names
# (searched as the compiler does: beside FILE, then the project's folders), or nothing for a system header.
top=$(pwd -P)
home() {
	[ "$2" = config.h ] && return
	for d in "$(dirname "$1")" src/core src/azure src/sim src ui .; do
		[ -f "$d/$2" ] || continue
		(cd "$(dirname "$d/$2")" && pwd -P) | sed "s|^$top/||"
		return
	done
}
# includes_outside FILES ALLOWED...: lists each project header that FILES include from a folder not in ALLOWED.
includes_outside() {
	files=$1
	shift
	for f in $files; do
		for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/p' "$f"); do
			from=$(home "$f" "$h")
			[ -n "$from" ] || continue
			allowed=no
			for a in "$@"; do
				[ "$from" = "$a" ] && allowed=yes
			done
			[ "$allowed" = yes ] || printf ' %s includes "%s" (%s);' "$f" "$h" "$from"
		done
	done
}
# The wizard is reached from outside ui/ through ui/run.h alone, its entry point (ui_run), which includes no curses
# and no other header of the wizard: the program's main starts it, and nothing else outside ui/ sees the screen.
hits=
for f in $(find src tests -name '*.[ch]' 2>/dev/null | sort); do
	for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/p' "$f"); do
		[ "$(home "$f" "$h")" = ui ] && [ "$(basename "$h")" != run.h ] && hits="$hits $f includes \"$h\";"
	done
done
[ -z "$hits" ] && ok "outside ui/, only ui/run.h of the wizard's headers is included" ||
	bad "a file outside ui/ includes a wizard header other than ui/run.h:$hits go through ui/run.h, or share the code through a header in src/ or src/azure"
hits=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/p' ui/run.h |
	grep -vxE 'std(bool|def|int)\.h' | paste -sd ' ' -)
[ -z "$hits" ] && ok "ui/run.h includes no curses and no other header" ||
	bad "ui/run.h includes $hits; it is the curses-free entry of the wizard: forward-declare what it needs"

hits=$(includes_outside "$(ls src/core/*.[ch])" src/core)
[ -z "$hits" ] && ok "src/core includes only src/core" ||
	bad "src/core is pure logic and includes only its own headers:$hits pass what it needs in from the caller, or move the code up to src/azure or src/"
hits=$(includes_outside "$(ls src/azure/*.[ch])" src/azure src/core)
[ -z "$hits" ] && ok "src/azure includes only src/azure and src/core" ||
	bad "the session layer includes only src/azure and src/core:$hits the simulator, the wizard and the commands sit above it: move the code up, or pass in what it needs"
hits=$(includes_outside "$(ls src/sim/*.[ch])" src/sim src/core)
[ -z "$hits" ] && ok "src/sim includes only src/sim and src/core" ||
	bad "the simulator includes only src/sim and src/core:$hits it answers as Azure does and shares no code with azcmk's session layer or wizard"
hits=$(includes_outside "$(ls ui/*.[ch])" ui src src/azure src/core)
[ -z "$hits" ] && ok "ui/ includes only ui, src, src/azure and src/core (never src/sim)" ||
	bad "ui/ includes only ui, src, src/azure and src/core, never the simulator:$hits the wizard reaches the demo tenant through the session like any tenant; src/demo.c starts it"
hits=$(includes_outside "$(ls src/*.[ch] | grep -vxE 'src/azcmk-sim\.c')" src src/azure src/core ui)
[ -z "$hits" ] && ok "only src/azcmk-sim.c includes the simulator" ||
	bad "among the programs' sources only src/azcmk-sim.c includes src/sim:$hits azcmk --demo runs azcmk-sim as a process (src/demo.c); azcmk must not link the simulator"
# azcmk does not link the simulator's libmicrohttpd: --demo runs azcmk-sim. (GnuTLS may still load: Debian's
# libcurl4 (OpenSSL) needs it for librtmp.)
if [ -x "$top_builddir/src/azcmk" ] && command -v ldd >/dev/null 2>&1; then
	hits=$(ldd "$top_builddir/src/azcmk" 2>/dev/null | grep -E 'libmicrohttpd')
	[ -z "$hits" ] && ok "azcmk does not link libmicrohttpd" ||
		bad "azcmk links the simulator's libmicrohttpd: $hits; keep src/sim and MHD_LIBS out of src_azcmk_LDADD"
fi

hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol)\s*\(' src ui tests --include='*.c' 2>/dev/null)
[ -z "$hits" ] && ok "no banned functions" || bad "banned functions: $hits"

# The purpose comment opens line 1 with its text: "/* What the file is. */", or, when it does not fit in
# 80 columns, "/* What the file" on line 1 and " * is. */" below (clang-format's reflow).
missing=
for f in $(find src ui tests -name '*.c' ! -path 'tests/conformance-js/*' 2>/dev/null); do
	awk 'NR == 1 && !/^\/\* [^ ]/ { exit 1 } NR > 1 && !/^ \* [^ ]/ { exit 1 } /\*\/$/ { found = 1; exit }
		NR >= 4 { exit 1 } END { exit !found }' "$f" || missing="$missing $f"
done
[ -z "$missing" ] && ok "purpose comment atop every C file" ||
	bad "no purpose comment opening line 1 (/* text */, or /* text / * text */ in at most 4 lines):$missing"

missing=
for f in $(grep -rlE '\b[NP]?_\(("|[[:space:]]*$)' src ui 2>/dev/null | sort); do
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

# The house style: .clang-format (the kernel's, in 80 columns) over every file build-aux/format-files.sh
# lists; make format applies it. Each clang-format release lays some lines out its own way, so only the
# one the tree is formatted with judges: clang-format 14, Debian 12's (CLANG_FORMAT names another binary).
cf=${CLANG_FORMAT:-clang-format}
cf_major=$("$cf" --version 2>/dev/null | sed -nE 's/.*clang-format version ([0-9]+).*/\1/p')
if [ -z "$cf_major" ]; then
	echo "skip clang-format: not installed (apt-get install clang-format)"
elif [ "$cf_major" != 14 ]; then
	echo "skip clang-format: $cf is version $cf_major; the tree is formatted with clang-format 14 (Debian 12)"
elif [ ! -f .clang-format ]; then
	bad "clang-format: .clang-format is missing (in a tarball: add it to EXTRA_DIST)"
elif ! files=$(sh build-aux/format-files.sh) || [ -z "$files" ]; then
	bad "clang-format: build-aux/format-files.sh listed no file (in a tarball: add it to EXTRA_DIST)"
else
	# shellcheck disable=SC2086
	out=$("$cf" --dry-run --Werror $files 2>&1)
	st=$?
	hits=$(printf '%s\n' "$out" | sed -nE 's/^([^:]+):[0-9]+:[0-9]+: error: .*clang-format.*/\1/p' |
		sort -u | paste -sd ' ' -)
	if [ -n "$hits" ]; then
		bad "not laid out as .clang-format says: $hits; run make format (or clang-format -i FILE)"
	elif [ "$st" -ne 0 ]; then
		bad "clang-format failed (status $st): $(printf '%s\n' "$out" | head -3)"
	else
		ok "clang-format: every C file follows .clang-format ($(printf '%s\n' "$files" | wc -l) files)"
	fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
