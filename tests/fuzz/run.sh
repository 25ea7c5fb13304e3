#!/bin/sh
# SPDX-License-Identifier: ISC
# Builds a fuzz harness with clang's libFuzzer, ASan and UBSan, and runs it
# for N seconds (default 60) from a seed corpus copied into a temporary
# folder (the seeds in the source tree are never written to).
#
# Usage: run.sh [--target decode|handoff] [SECONDS] [libFuzzer options]
#   decode   (the default) the request path: framing, decoding, params
#            (fuzz_decode.c, proto/ only); seeds written below
#   handoff  the reexec state reader: handoff_check_buffer (fuzz_handoff.c,
#            every daemon source with procd's main renamed), both formats;
#            seeds from tests/fuzz/handoff-corpus/ (remade by
#            handoff-seeds.py): *.bin procd-handoff-2, *.json
#            procd-handoff-1
# SECONDS 0: only run every seed once (a replay, no fuzzing).
# The target may also be given as FUZZ_TARGET=handoff. New inputs the
# fuzzer found are kept in FUZZ_OUT if set (a folder; e.g. to add the
# interesting ones to the corpus), else thrown away with the work folder.

set -eu

target=${FUZZ_TARGET:-decode}
case ${1:-} in
--target)
	[ $# -ge 2 ] || { echo "run.sh: --target needs a name" >&2; exit 2; }
	target=$2
	shift 2
	;;
--target=*)
	target=${1#--target=}
	shift
	;;
esac
case $target in
decode|handoff) ;;
*)	echo "run.sh: unknown target $target (decode or handoff)" >&2; exit 2 ;;
esac

secs=${1:-60}
[ $# -gt 0 ] && shift
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
# config.h lives in the build tree: make runs us from its top.
builddir=${top_builddir:-$(pwd)}
[ -f "$builddir/config.h" ] || builddir=$srcdir
if [ ! -f "$builddir/config.h" ]; then
	echo "run.sh: no config.h; run ./configure first" >&2
	exit 2
fi
CLANG=${CLANG:-clang}

work=$(mktemp -d "${TMPDIR:-/tmp}/procd-fuzz.XXXXXX")
keep=0
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

corpus=$work/corpus
mkdir "$corpus"

# ---- the decode target ----------------------------------------------------

build_decode() {
	echo "run.sh: building $work/fuzz_decode"
	# shellcheck disable=SC2046
	"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
	    -I "$builddir" -I "$srcdir/proto" -I "$srcdir" \
	    $(pkg-config --cflags jansson 2>/dev/null || :) \
	    -o "$work/fuzz_decode" "$srcdir/tests/fuzz/fuzz_decode.c" \
	    "$srcdir"/proto/*.c -ljansson
}

seeds_decode() {
	# Seeds: one file each, so that libFuzzer starts from every rule's edge.
	n=0
	seed() {
		n=$((n + 1))
		printf '%b' "$1" >"$corpus/seed-$n"
	}
	seed '{"jsonrpc":"2.0","method":"status","params":{"job":1},"id":1}\n'
	seed '{"jsonrpc":"2.0","method":"info"}\n'
	seed '{"jsonrpc":"2.0","method":"join","params":{"job":"web","timeout":2.5},"id":"a"}\r\n'
	seed '{"jsonrpc":"2.0","method":"start","params":{"argv":["sleep","1"],"name":"web","env":{"A":"1","B":null},"cwd":"/tmp","daemon":true,"parent":2,"stop_timeout":1e9,"output":"null","log_limit":0},"id":null}\n'
	seed '{"jsonrpc":"2.0","method":"list","params":{"state":["running","exited"],"parent":"web"},"id":3}\n'
	seed '{"jsonrpc":"2.0","method":"signal","params":{"job":1,"signal":"SIGRTMIN+2","group":true},"id":4}\n'
	seed '{"jsonrpc":"2.0","method":"subscribe","params":{"jobs":[1,"x"],"since":0},"id":5}\n'
	seed '[{"jsonrpc":"2.0","method":"a","id":1},1,{"jsonrpc":"2.0","method":"b"},[]]\n'
	seed '[]\n\n[ ]\n'
	seed '{"jsonrpc":"2.0","method":"m","id":1,"id":2}\n'
	seed '[{"jsonrpc":"2.0","method":"m","id":7,"params":{"a":1,"a":2}},{"jsonrpc":"2.0","method":"m","id":8}]\n'
	seed '{"jsonrpc":"2.0","method":"m","id":9,"params":{"k\\u0000":"v\\u0000"}}\n'
	seed '{"jsonrpc":"2.0","method":"m","id":{},"params":null}\n{"jsonrpc":"1.0"}\nnope\n'
	seed '{"jsonrpc":"2.0","method":"m","id":"\\ud83d\\ude00","params":[1]}\n'
	seed '{"a":"\0377"}\n'
	seed '{"jsonrpc":"2.0","method":"start","params":{"argv":["true"],"log_limit":1073741824},"id":10}\n{"jsonrpc":"2.0","method":"start","params":{"argv":["true"],"log_limit":1073741825},"id":11}\n'
	seed '{"jsonrpc":"2.0","method":"start","params":{"argv":["id"],"user":"nobody","group":65534},"id":12}\n{"jsonrpc":"2.0","method":"start","params":{"argv":["id"],"user":-1,"group":""},"id":13}\n'
	seed '[{"jsonrpc":"2.0","method":"logs","params":{"job":1,"tail":3,"follow":true,"encoding":"base64","stream":"stderr"},"id":1},{"jsonrpc":"2.0","method":"logs","params":{"job":1},"id":2}]\n'
	seed '{"jsonrpc":"2.0","method":"m","id":99999999999999999999,"params":{"a":[-1e999,9223372036854775808]},"x":1E+400}\n'
	head -c 2048 /dev/zero | tr '\0' '[' >"$corpus/seed-deep"
	head -c 2048 /dev/zero | tr '\0' ']' >>"$corpus/seed-deep"
	head -c 3000 /dev/zero | tr '\0' 'x' >"$corpus/seed-long"

	# A dictionary of the protocol's words.
	cat >"$work/dict" <<'DICT'
"\"jsonrpc\""
"\"2.0\""
"\"method\""
"\"params\""
"\"id\""
"\"job\""
"\"argv\""
"\"name\""
"\"env\""
"\"cwd\""
"\"state\""
"\"signal\""
"\"jobs\""
"\"timeout\""
"\"log_limit\""
"\"user\""
"\"group\""
"\"follow\""
"\"encoding\""
"1073741824"
"\"running\""
"\"exited\""
"\"SIG\""
"RTMIN+"
"job-"
"\\u0000"
"\\ud800"
"null"
"true"
"1e9"
"\x0d\x0a"
DICT
	maxlen=8192
}

# ---- the handoff target ---------------------------------------------------

build_handoff() {
	echo "run.sh: building $work/fuzz_handoff"
	for pkg in libevent jansson libsystemd; do
		if ! pkg-config --exists "$pkg"; then
			echo "run.sh: pkg-config does not know $pkg" >&2
			exit 2
		fi
	done
	# Every daemon source: main() is procd's, renamed so that libFuzzer's
	# is the program's.
	# shellcheck disable=SC2046
	"$CLANG" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
	    -Dmain=procd_main \
	    -I "$builddir" -I "$srcdir/proto" -I "$srcdir/daemon" -I "$srcdir" \
	    $(pkg-config --cflags libevent jansson libsystemd) \
	    -o "$work/fuzz_handoff" "$srcdir/tests/fuzz/fuzz_handoff.c" \
	    "$srcdir"/daemon/*.c "$srcdir"/proto/*.c \
	    $(pkg-config --libs libevent jansson libsystemd)
}

seeds_handoff() {
	seeds=$srcdir/tests/fuzz/handoff-corpus
	if ! ls "$seeds"/*.json "$seeds"/*.bin >/dev/null 2>&1; then
		echo "run.sh: no seeds in $seeds" >&2
		exit 2
	fi
	cp "$seeds"/*.json "$seeds"/*.bin "$corpus"/
	# The format's words.
	{
		for w in format procd-handoff-1 procd-handoff-2 version pid \
		    started_at \
		    image_started_at reexecs nofile listen path owned dirfd \
		    name dev ino sockets notify_fd cgroup ok why root rel fd \
		    kill next_job next_client next_subscription seq events \
		    jobs clients fds id argv cwd uid gid daemon stop_timeout \
		    state exitcode flags ran exited_at usage kill_left error \
		    env creds change groups restart policy delay max_delay \
		    last_delay limit count at left due ready notify status \
		    tree waiting killed base parent output mode grace_left \
		    truncated records discarded in out batches requests \
		    subscriptions kind job batch follow streams base64 utf8 \
		    notification rest jsonrpc method params \
		    join reexec running stopping restarting exited no \
		    on-failure always started closed gap; do
			printf '"\\"%s\\""\n' "$w"
		done
		for w in null true false -1 0 1 2 3 1e9 1099511627776 \
		    999999999 2147483647 4294967295 1073741824 \
		    9223372036854775807 '[0,0]' '[-1,-1]' '"4oI="' '"8J+Y"' \
		    '"gA=="' '"="' '"=="' '\\u0000'; do
			printf '"%s"\n' "$(printf '%s' "$w" | sed 's/"/\\"/g')"
		done
		# Format 2: its first line, and names as its strings end.
		printf '"procd-handoff-2\\x0a"\n'
		for w in running stopping waiting restarting exited no \
		    on-failure always join follow ready reexec started; do
			printf '"%s\\x00"\n' "$w"
		done
	} >"$work/dict"
	maxlen=65536
}

case $target in
decode)	build_decode; seeds_decode ;;
handoff) build_handoff; seeds_handoff ;;
esac

if [ "$secs" = 0 ]; then
	echo "run.sh: running each of $(find "$corpus" -type f | wc -l) seeds once"
	rc=0
	"$work/fuzz_$target" -runs=0 -timeout=10 -rss_limit_mb=2048 \
	    -max_len="$maxlen" -artifact_prefix="$work/" "$@" "$corpus" || rc=$?
else
	echo "run.sh: fuzzing for $secs s"
	rc=0
	"$work/fuzz_$target" -max_total_time="$secs" -max_len="$maxlen" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -dict="$work/dict" -artifact_prefix="$work/" "$@" "$corpus" ||
	    rc=$?
fi
if [ -n "${FUZZ_OUT:-}" ]; then
	mkdir -p "$FUZZ_OUT"
	cp "$corpus"/* "$FUZZ_OUT"/
	echo "run.sh: the corpus ($(find "$corpus" -type f | wc -l) inputs) is in $FUZZ_OUT"
fi
if [ "$rc" -ne 0 ]; then
	keep=1
	echo "run.sh: failed ($rc); crash inputs kept in $work" >&2
fi
exit "$rc"
