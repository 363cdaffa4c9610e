#!/bin/bash
# Runs "$@" and kills it as soon as our stdin closes. The parent keeps the write end of
# that pipe; when the parent exits for any reason (test failure, Ctrl-C, SIGKILL) the
# kernel closes it, so servers started for a test never outlive the test.
# Background jobs get /dev/null as stdin, so the watcher reads the pipe through fd 3.
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
(
  cat <&3 >/dev/null
  kill -TERM "$child" 2>/dev/null || exit 0
  for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.2; done
  kill -KILL "$child" 2>/dev/null
) &
watcher=$!
wait "$child"
rc=$?
kill $(pgrep -P "$watcher") "$watcher" 2>/dev/null
exit "$rc"
