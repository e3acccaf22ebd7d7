# shellcheck shell=sh
# shellcheck disable=SC2034,SC2317 # the start of every built program: this line covers it all,
# where the preamble's own (got, size, t, fix: read by the kinds' helpers; helpers only some
# programs call) no longer can
# The watchdog: the first lines of every program deskready runs on a device. Run with
# DIR and SECS as its arguments (see BOOTSTRAP; DIR is the program's temp directory, and
# the program is DIR/program; DIR is empty when the program runs straight from stdin
# and makes its directory itself when it needs one), it makes
# sure that the program and everything it starts (commands, sleeps, package managers)
# end once the SSH session it runs under goes away (a timeout, a Ctrl-C or a dropped
# connection on the controller's side closes it) or SECS + 2 seconds have passed (0: no
# deadline), and that DIR goes with them (its staged contents may be secret).
#
# The program must lead a process group of its own, so that one signal reaches all it
# started. sshd starts every session's command as the leader of a new session, and the
# login shell hands `sh -c` over by exec, so the program usually leads its group already:
# then a background watch is all it takes, and the program goes on in this same shell.
# Otherwise (a login shell that forks, a sudo in between) the program is started again as
# `sh DIR/program DIR watched` under `setsid`, and this shell waits for it and cleans up.
# The watch holds none of the channel's streams (`exec` redirections in its own subshell:
# a redirection of a function call would keep copies open), so the channel closes as soon
# as the program ends, and it ends by itself within a second of the program's end. A
# program run any other way (fewer than two arguments) runs unwatched.

# alive PID: the process runs (a zombie, killed but not yet reaped, does not)
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  read -r st < "/proc/$1/stat" || return 1
  st=${st##*) }; [ "${st%% *}" != Z ]
}
wd_dog=
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
  # wd_leads: this shell leads its process group: a group whose id is this shell's pid
  # exists (only this shell can have made it, and its pid is not reused while it runs)
  wd_leads() { kill -0 "-$$" 2>/dev/null; }
  # wd_watch LEADER SESSION SECS DIR: ends LEADER's process group once SESSION is gone or
  # SECS have passed: TERM first, so the program's traps remove what it leaves (its temp
  # file beside a target may hold a secret), then, once LEADER has ended or after at most
  # a second, DIR removed and KILL for whatever is left of the group (the watch included,
  # when it is in the group). Once it has begun, it finishes even when the program ends
  # meanwhile (the program then stops it with TERM, which it ignores by then).
  wd_watch() {
    # the first beat is 2 s, then 1 s: a program that ends within 2 s (most) costs one
    # `sleep`
    wn=0; wb=2
    while kill -0 "$2" 2>/dev/null; do
      # LEADER ended by itself (its stop for the watch can come too early to be seen)
      alive "$1" || return 0
      if [ "$3" -gt 0 ] && [ "$wn" -ge $(($3 + 2)) ]; then break; fi
      sleep "$wb"; wn=$((wn + wb)); wb=1
    done
    trap '' TERM
    kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
    wn=0
    while [ "$wn" -lt 10 ] && alive "$1"; do
      sleep 0.1; wn=$((wn + 1))
    done
    case $4 in
      */deskready.*) rm -rf -- "$4" ;;
      # a directory the program made itself (its `tdir`): the one holding LEADER's pid
      '') for wd_d in "${TMPDIR:-/tmp}"/deskready.*; do
            if [ -d "$wd_d" ] && [ ! -L "$wd_d" ] && [ -O "$wd_d" ] && [ -f "$wd_d/pid" ]; then
              wd_p=; read -r wd_p < "$wd_d/pid" || :
              [ "$wd_p" != "$1" ] || rm -rf -- "$wd_d"
            fi
          done ;;
    esac
    kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null
  }
  wd_session
  if wd_leads; then
    # The program goes on in this shell, which leads its group; the preamble's exit
    # trap stops the watch.
    (exec </dev/null >/dev/null 2>&1; wd_watch "$$" "$wd_sess" "$2" "$1") &
    wd_dog=$!
    set -- "$1" watched
  else
    exec 3<&0
    if command -v setsid >/dev/null 2>&1; then
      setsid sh "$1/program" "$1" watched <&3 3<&- &
    else
      sh "$1/program" "$1" watched <&3 3<&- &
    fi
    wd_prog=$!
    # From here on this shell says nothing: the shell's own "Killed" notice for the
    # watched program would meet a closed channel and end it (SIGPIPE) before it cleans up.
    exec 3<&- 2>/dev/null
    trap '' PIPE
    (exec </dev/null >/dev/null 2>&1; wd_watch "$wd_prog" "$wd_sess" "$2" "$1") &
    wd_dog=$!
    wd_dir=$1
    # wd_end STATUS: stops the watch, removes the program's directory, exits with STATUS
    wd_end() {
      kill "$wd_dog" 2>/dev/null
      case $wd_dir in */deskready.*) [ ! -e "$wd_dir" ] || rm -rf -- "$wd_dir" ;; esac
      exit "$1"
    }
    # Told to stop (even before the program set its own traps): pass it on to the whole
    # group, wait for it, and clean up after it.
    trap 'kill -TERM "-$wd_prog" 2>/dev/null || kill -TERM "$wd_prog" 2>/dev/null; wait "$wd_prog"; wd_end 143' HUP INT TERM
    wait "$wd_prog"; wd_rc=$?
    wd_end "$wd_rc"
  fi
fi
