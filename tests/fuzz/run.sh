#!/bin/sh
# SPDX-License-Identifier: ISC
# Builds the request-decoder fuzz harness with clang's libFuzzer, ASan and
# UBSan, and runs it for N seconds (default 60) from a seed corpus written
# here into a temporary folder. Usage: run.sh [SECONDS] [libFuzzer options]

set -eu

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

echo "run.sh: building $work/fuzz_decode"
# shellcheck disable=SC2046
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
    -I "$builddir" -I "$srcdir/proto" -I "$srcdir" \
    $(pkg-config --cflags jansson 2>/dev/null || :) \
    -o "$work/fuzz_decode" "$srcdir/tests/fuzz/fuzz_decode.c" \
    "$srcdir"/proto/*.c -ljansson

# Seeds: one file each, so that libFuzzer starts from every rule's edge.
corpus=$work/corpus
mkdir "$corpus"
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

echo "run.sh: fuzzing for $secs s"
rc=0
"$work/fuzz_decode" -max_total_time="$secs" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -dict="$work/dict" \
    -artifact_prefix="$work/" "$@" "$corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
	keep=1
	echo "run.sh: failed ($rc); crash inputs kept in $work" >&2
fi
exit "$rc"
