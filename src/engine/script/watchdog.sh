# shellcheck shell=sh
# shellcheck disable=SC2034,SC2317 # the start of every built program: this line covers it all,
# where the preamble's own (got, size, t, fix: read by the kinds' helpers; helpers only some
# programs call) no longer can
# The watchdog: the first lines of every program deskready runs on a device. Run as
# `sh PROGRAM DIR SECS` (see BOOTSTRAP; DIR is the program's temp directory), it starts
# the same program again as `sh PROGRAM DIR watched` in a session and process group of
# its own (setsid), waits for it and exits with its status. Meanwhile a small loop ends
# that whole group (the program and everything it started: commands, sleeps, package
# managers) once the SSH
# session it runs under goes away (a timeout, a Ctrl-C or a dropped connection on the
# controller's side closes it) or SECS + 2 seconds have passed (0: no deadline). Then it
# removes DIR, which a killed program cannot (its staged contents may be secret). Nothing
# here talks on stdout; stdin (the staged contents) goes to the watched program. A program
# run any other way (fewer than two arguments) runs unwatched.
if [ $# -ge 2 ] && [ "$2" != watched ]; then
  # wd_session: the SSH session's process (the nearest ancestor named sshd*), else the parent
  # (shell builtins only: it runs once per program, on every device)
  wd_session() {
    wp=$PPID
    while [ "${wp:-0}" -gt 1 ]; do
      wc=; read -r wc < "/proc/$wp/comm" 2>/dev/null || :
      case $wc in sshd*) wd_sess=$wp; return 0 ;; esac
      wq=0
      while read -r wk wv; do
        if [ "$wk" = PPid: ]; then wq=$wv; break; fi
      done < "/proc/$wp/status" 2>/dev/null
      wp=$wq
    done
    wd_sess=$PPID
  }
  # wd_watch GROUP SESSION SECS: ends GROUP once SESSION is gone or SECS have passed:
  # TERM first, so the program's traps remove what it leaves (its temp file beside a
  # target may hold a secret), then, after at most a second, KILL for whatever is left.
  # Once it has begun, it finishes even when the watched program ends meanwhile (the
  # watchdog then stops it with TERM).
  wd_watch() {
    wn=0
    while kill -0 "$2" 2>/dev/null; do
      if [ "$3" -gt 0 ] && [ "$wn" -ge $(($3 + 2)) ]; then break; fi
      sleep 1; wn=$((wn + 1))
    done
    trap '' TERM
    kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
    wn=0
    while [ "$wn" -lt 10 ] && { kill -0 "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }; do
      sleep 0.1; wn=$((wn + 1))
    done
    kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null
  }
  wd_session
  exec 3<&0
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$0" "$1" watched <&3 3<&- &
  else
    sh "$0" "$1" watched <&3 3<&- &
  fi
  wd_prog=$!
  # From here on this shell says nothing: the shell's own "Killed" notice for the
  # watched program would meet a closed channel and end it (SIGPIPE) before it cleans up.
  exec 3<&- 2>/dev/null
  trap '' PIPE
  wd_watch "$wd_prog" "$wd_sess" "$2" </dev/null >/dev/null 2>&1 &
  wd_dog=$!
  wd_dir=$1
  # wd_end STATUS: stops the watch, removes the program's directory, exits with STATUS
  wd_end() {
    kill "$wd_dog" 2>/dev/null
    case $wd_dir in */deskready.*) rm -rf -- "$wd_dir" ;; esac
    exit "$1"
  }
  # Told to stop (even before the program set its own traps): pass it on to the whole
  # group, wait for it, and clean up after it.
  trap 'kill -TERM "-$wd_prog" 2>/dev/null || kill -TERM "$wd_prog" 2>/dev/null; wait "$wd_prog"; wd_end 143' HUP INT TERM
  wait "$wd_prog"; wd_rc=$?
  wd_end "$wd_rc"
fi
