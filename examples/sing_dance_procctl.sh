#!/bin/sh
# SPDX-License-Identifier: ISC
# sing_dance_mp.py with procctl: sing and dance are two jobs, started,
# shown and joined. procd keeps a job's output; logs -f shows it here.
# The jobs' code is in single quotes: their own sh expands it.
# shellcheck disable=SC2016
set -eu

sing='for words in la "la la" "la la la"; do echo "sing: $words"; sleep 0.3; done'
dance='for step in left right "turn around"; do echo "dance: $step"; sleep 0.4; done'

procctl start --name "sing-$$" -- sh -c "$sing" >/dev/null
procctl start --name "dance-$$" -- sh -c "$dance" >/dev/null
procctl logs -f "sing-$$" &
procctl logs -f "dance-$$" &
wait
procctl join "sing-$$" >/dev/null
procctl join "dance-$$" >/dev/null
echo "main: both done"
procctl close "sing-$$" >/dev/null
procctl close "dance-$$" >/dev/null
