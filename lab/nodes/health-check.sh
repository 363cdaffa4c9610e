#!/bin/sh
# A lab node's commit health check (a command check of the agent's `health`): the OS in
# the booted slot, the ext4 on device $1, must have an /etc/os-release and must not be
# an image the image builder marked unhealthy (TWINROOT_VARIANT=unhealthy).
release=$(debugfs -R 'cat /etc/os-release' "$1" 2>/dev/null)
case "$release" in
  *VERSION_ID=*) ;;
  *) echo "no /etc/os-release in the booted slot ($1)" >&2; exit 1 ;;
esac
case "$release" in
  *TWINROOT_VARIANT=unhealthy*) echo "the OS in the booted slot ($1) is marked unhealthy" >&2; exit 1 ;;
esac
echo "$release" | sed -n 's/^PRETTY_NAME=//p'
