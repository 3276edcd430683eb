#!/bin/sh
# One per embedded-mode run: ends the run's tenant process groups should the control plane die
# without stopping them, SIGKILL included (which no handler of its own survives).
#
#   /bin/sh tenant-watchdog.sh --dormouse-watchdog=<run id>   (stdin: a pipe from the control plane)
#
# The control plane writes one line per change: "+<pgid>" when a tenant's process group starts,
# "-<pgid>" once it is gone. When the pipe closes (the control plane exited, or was killed: the
# kernel closes its end), every group still known gets SIGTERM, and SIGKILL about 2 s later for
# what is left; then this exits. A clean stop removes every group first, so this exits at once.
# Plain POSIX sh: about a megabyte of memory, where a Node process would take some forty.

groups=' '

while IFS= read -r line; do
  pgid=${line#?}
  case $pgid in '' | *[!0-9]*) continue ;; esac
  case $line in
    +*) case $groups in *" $pgid "*) ;; *) groups="$groups$pgid " ;; esac ;;
    -*) case $groups in *" $pgid "*) groups="${groups%% "$pgid" *} ${groups#* "$pgid" }" ;; esac ;;
  esac
done

alive() {
  for pgid in $groups; do
    kill -s 0 -- "-$pgid" 2>/dev/null && return 0
  done
  return 1
}

alive || exit 0
for pgid in $groups; do kill -s TERM -- "-$pgid" 2>/dev/null; done
# Up to 2 s for the groups to go, in steps of 0.1 s (an exited tenant's zombie counts as alive,
# which only costs the wait: SIGKILL to a zombie does nothing).
tries=0
while [ "$tries" -lt 20 ] && alive; do
  sleep 0.1
  tries=$((tries + 1))
done
for pgid in $groups; do kill -s KILL -- "-$pgid" 2>/dev/null; done
exit 0
