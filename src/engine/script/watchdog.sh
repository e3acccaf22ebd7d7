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
# What the program started that left its group (apt runs dpkg and the maintainer scripts
# in a session of their own) is found when the program is ended, and only then: its
# descendants, by their parent pids in /proc, are ended with the group (`wd_below`).
# The watch holds none of the channel's streams (`exec` redirections in its own subshell:
# a redirection of a function call would keep copies open), so the channel closes as soon
# as the program ends, and it ends by itself within a second of the program's end. A
# program run any other way (fewer than two arguments) runs unwatched.

# R: where profile commands' error output goes on the device (root's only, in deskready's
# run directory on the tmpfs /run, made by the first program that needs it after a boot):
# files named after the program's pid (the preamble's `efile`), so that running a command
# costs no process but its own; the watch empties them when it ends the program.
R=/run/deskready/err
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
  # wd_watch LEADER SESSION SECS DIR: ends LEADER's process group, and its descendants
  # outside the group, once SESSION is gone or SECS have passed: TERM first, so the
  # program's traps remove what it leaves (its temp file beside a target may hold a
  # secret), then, once LEADER and those descendants have ended or after at most a second,
  # DIR removed and KILL for whatever is left of them and of the group (the watch included,
  # when it is in the group: so last). Once it has begun, it finishes even when the
  # program ends meanwhile (the program then stops it with TERM, which it ignores by then).
  wd_watch() {
    # the first beat is 2 s, then 1 s: a program that ends within 2 s (most) costs one
    # `sleep` (and no read of its /proc entry: LEADER has just started the watch)
    wn=0; wb=2
    while kill -0 "$2" 2>/dev/null; do
      # LEADER ended by itself (its stop for the watch can come too early to be seen)
      [ "$wn" = 0 ] || alive "$1" || return 0
      if [ "$3" -gt 0 ] && [ "$wn" -ge $(($3 + 2)) ]; then break; fi
      sleep "$wb"; wn=$((wn + wb)); wb=1
    done
    trap '' TERM
    # before the group's TERM: a process whose parent ends is no longer below LEADER
    wd_below "$1"
    kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
    wd_sig TERM
    wn=0
    while [ "$wn" -lt 10 ] && { alive "$1" || wd_any; }; do
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
    for wd_x in "$R/$1".*; do [ ! -f "$wd_x" ] || [ -L "$wd_x" ] || true > "$wd_x"; done
    wd_sig KILL
    kill -KILL "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null
  }
  # wd_below LEADER: LEADER's descendants outside its process group, found by their parent
  # pids (one read of each /proc/PID/stat, shell builtins only; run only when the program
  # is being ended, never on a normal run): `PID:START` words in wd_out (START, its start
  # time, tells it from a later process given the same pid), and in wd_grp the process
  # groups that one of them leads (so that what they start meanwhile is reached too)
  wd_below() {
    wd_l=$1; wd_all=
    for wd_f in /proc/[0-9]*/stat; do
      wd_s=; read -r wd_s 2>/dev/null < "$wd_f" || continue
      wd_p=${wd_f#/proc/}; wd_p=${wd_p%/stat}
      # shellcheck disable=SC2086 # split on purpose: the fields after the name
      set -- ${wd_s##*) }
      # $2: the parent, $3: the process group, ${20}: the start time
      wd_all="$wd_all $wd_p,$2,$3,${20:-}"
    done
    wd_in=" $wd_l "; wd_out=; wd_grp=; wd_more=1
    # pass after pass until none is added (a parent is usually listed before its child)
    while [ -n "$wd_more" ]; do
      wd_more=
      for wd_e in $wd_all; do
        wd_p=${wd_e%%,*}; wd_r=${wd_e#*,}
        case $wd_in in *" $wd_p "*) continue ;; esac
        case $wd_in in *" ${wd_r%%,*} "*) ;; *) continue ;; esac
        wd_in="$wd_in$wd_p "; wd_more=1
        wd_r=${wd_r#*,}; wd_g=${wd_r%%,*}
        [ "$wd_g" != "$wd_l" ] || continue
        wd_out="$wd_out $wd_p:${wd_r#*,}"
        [ "$wd_g" != "$wd_p" ] || wd_grp="$wd_grp $wd_p:${wd_r#*,}"
      done
    done
  }
  # wd_same PID:START: PID is still the process wd_below saw (wd_z: Z when it has ended
  # but is not reaped yet)
  wd_same() {
    wd_s=; read -r wd_s 2>/dev/null < "/proc/${1%%:*}/stat" || return 1
    # shellcheck disable=SC2086 # split on purpose: the fields after the name
    set -- "${1#*:}" ${wd_s##*) }
    wd_z=$2; [ "${21:-}" = "$1" ]
  }
  # wd_sig SIG: sends SIG to what wd_below found: each group it listed while its leader's
  # pid is the same process's (even ended) or nobody's (a group's number is never given to
  # a new process while one of its members lives), each process that still runs
  wd_sig() {
    for wd_e in $wd_grp; do
      if wd_same "$wd_e" || [ ! -e "/proc/${wd_e%%:*}" ]; then
        kill "-$1" "-${wd_e%%:*}" 2>/dev/null
      fi
    done
    for wd_e in $wd_out; do
      if wd_same "$wd_e" && [ "$wd_z" != Z ]; then kill "-$1" "${wd_e%%:*}" 2>/dev/null; fi
    done
  }
  # wd_any: one of the processes wd_below found still runs
  wd_any() {
    for wd_e in $wd_out; do
      if wd_same "$wd_e" && [ "$wd_z" != Z ]; then return 0; fi
    done
    return 1
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
    # group and to the program's descendants outside it, wait for it (and for them, a
    # second at most: then KILL), and clean up after it.
    trap 'wd_below "$wd_prog"; kill -TERM "-$wd_prog" 2>/dev/null || kill -TERM "$wd_prog" 2>/dev/null; wd_sig TERM
      wait "$wd_prog"; wn=0
      while [ "$wn" -lt 10 ] && wd_any; do sleep 0.1; wn=$((wn + 1)); done
      wd_sig KILL; wd_end 143' HUP INT TERM
    wait "$wd_prog"; wd_rc=$?
    wd_end "$wd_rc"
  fi
fi
