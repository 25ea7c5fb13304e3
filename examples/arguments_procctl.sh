#!/bin/sh
# SPDX-License-Identifier: ISC
# arguments_mp.py with procctl: one piece of code run as two jobs with
# what it needs. The command's arguments play args; keyword args become
# environment variables (--env).
# The jobs' code is in single quotes: their own sh expands it.
# shellcheck disable=SC2016
set -eu

count='for i in $(seq "$num"); do echo "$name: $i of $num"; sleep 0.2; done'

procctl start --name "yuki-$$" -- sh -c "name=\$1 num=\$2; $count" count Yuki 3 >/dev/null
procctl start --name "nagato-$$" --env name=Nagato --env num=4 -- sh -c "$count" >/dev/null
procctl logs -f "yuki-$$" &
procctl logs -f "nagato-$$" &
wait
procctl join "yuki-$$" >/dev/null
procctl join "nagato-$$" >/dev/null
echo "main: done"
procctl close "yuki-$$" >/dev/null
procctl close "nagato-$$" >/dev/null
