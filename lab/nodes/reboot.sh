#!/bin/sh
# A lab node's reboot command (the agent's `rebootCommand`): the agent runs it, detached,
# after answering `reboot`. It asks the lab to reset the machine by creating the request
# file named in $1, which the lab watches; the rename makes the request appear whole.
set -e
echo "$$" > "$1.tmp"
mv "$1.tmp" "$1"
