# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# cups CMD...: a CUPS client command, against $cs when set (the print server's cupsd)
cups() { if [ -n "${cs:-}" ]; then CUPS_SERVER="$cs" "$@"; else "$@"; fi; }
# pq_up: whether the scheduler (cupsd) of $cs answers; asked once per server and program,
# so a dead print server costs one quick question, not an lpadmin retried until it gives up
pq_up() {
  case "${pq_dn:-}" in *"[$cs]"*) return 1 ;; esac
  case "${pq_seen:-}" in *"[$cs]"*) return 0 ;; esac
  if [ "$(cups lpstat -r 2>/dev/null)" = "scheduler is running" ]; then pq_seen="${pq_seen:-}[$cs]"; return 0; fi
  pq_dn="${pq_dn:-}[$cs]"; return 1
}
# pq_gone: asks $cs's scheduler again (after a change failed); true, and remembered for
# the rest of the program, when it no longer answers (cupsd died or was stopped)
pq_gone() {
  [ "$(cups lpstat -r 2>/dev/null)" = "scheduler is running" ] && return 1
  pq_dn="${pq_dn:-}[$cs]"; return 0
}
# pq_known QUEUE: whether $cs has QUEUE, from one `lpstat -v` (and `lpstat -l -p`, read by
# pq_state in pq_read) of all its queues per program and server (asking CUPS for one
# missing queue costs a second of DNS-SD browsing)
pq_known() {
  if [ "${pq_lv:-}" != "[$cs]" ]; then
    cups lpstat -v > "$T/pv" 2>/dev/null; cups lpstat -l -p > "$T/pl" 2>/dev/null; pq_lv="[$cs]"
  fi
  grep -qF "device for $1: " "$T/pv"
}
# pq_bg COMMAND...: runs COMMAND in the background, at most 24 at once (the queue reads
# below mostly wait: each lpoptions browses DNS-SD for about a second; each also holds a
# D-Bus connection to avahi, and D-Bus allows a user 256)
pq_bg() {
  "$@" &
  pq_pids="${pq_pids:-} $!"; pq_nb=$((${pq_nb:-0} + 1))
  if [ "$pq_nb" -ge 24 ]; then pq_wait; fi
}
# pq_wait: waits for every background read started by pq_bg
pq_wait() {
  # shellcheck disable=SC2086 # a list of pids
  [ -z "${pq_pids:-}" ] || wait $pq_pids
  pq_pids=; pq_nb=0
}
# pq_state QUEUE KEY=VALUE...: the queue's settings as deskready compares them (each
# option's KEY read back); fails when there is no such queue
pq_state() {
  if [ "${pq_snap:-0}" = 1 ]; then
    # From the program's listing of every queue (pq_known), not a client per queue
    pu=$(awk -v q="$1" 'index($0, "device for " q ": ") == 1 { print substr($0, length(q) + 14); exit }' "$T/pv")
    [ -n "$pu" ] || return 1
    pl=$(awk -v q="$1" '$1 == "printer" && $2 == q { f = 1; print; next } f && /^\t/ { print; next } { f = 0 }' "$T/pl")
  else
    cups lpstat -v "$1" >/dev/null 2>&1 || return 1
    pu=$(cups lpstat -v "$1" 2>/dev/null | sed -n 's/^device for [^:]*: //p')
    pl=$(cups lpstat -l -p "$1" 2>/dev/null)
  fi
  printf 'uri=%s\n' "$pu"
  printf 'location=%s\n' "$(printf '%s\n' "$pl" | sed -n 's/^\tLocation: //p')"
  printf 'description=%s\n' "$(printf '%s\n' "$pl" | sed -n 's/^\tDescription: //p')"
  po=" $(cups lpoptions -p "$1" 2>/dev/null) "
  case "$po" in *" printer-is-shared=true "*) printf 'shared=true\n' ;; *) printf 'shared=false\n' ;; esac
  printf 'allowed_users=%s\n' "$(printf '%s\n' "$pl" | awk '/^\tUsers allowed:/ {f=1; next} f && /^\t\t/ {sub(/^\t\t/, ""); print; next} {f=0}' | grep -v '^(all)$' | sort | paste -sd, -)"
  pq=$1; shift
  if [ $# -gt 0 ]; then
    pd=$(cups lpoptions -p "$pq" -l 2>/dev/null)
    for kv in "$@"; do
      k=${kv%%=*}
      printf 'option %s=%s\n' "$k" "$(printf '%s\n' "$pd" | sed -n "s/^$k\/[^:]*:.* \*\([^ ]*\).*/\1/p" | head -n 1)"
    done
  fi
}
# pq_pre I QUEUE SERVER KEY=VALUE...: starts reading queue I's settings as pq_state does,
# in the background, into $T/s$i; or notes in $T/n$i that SERVER has no such queue.
# Written before the queue steps, so that reading a batch of queues costs about one
# client's time, not one per queue (see pq_bg).
pq_pre() {
  i=$1; q=$2; cs=$3; shift 3
  pq_up || return 0
  if ! pq_known "$q"; then : > "$T/n$i"; return 0; fi
  pq_bg pq_read "$i" "$q" "$@"
}
pq_read() { i=$1; shift; pq_snap=1; pq_state "$@" > "$T/s$i.t" 2>/dev/null; mv -f "$T/s$i.t" "$T/s$i"; }
# pq_pre_end: every read started by pq_pre has finished
pq_pre_end() { pq_wait; }
# pq_end: the queues changed by this program read back (in the background, see pq_check),
# each one's result said; a failed one fails the program as a failed step does
pq_end() {
  pq_wait
  for pi in ${pq_ck:-}; do
    cat "$T/r$pi"
    # shellcheck disable=SC2034
    if grep -q "^@@R $pi failed" "$T/r$pi"; then failed=1; fi
  done
  pq_ck=
}
# pq_check I QUEUE HIDDEN URI WANT KEY=VALUE...: whether queue I, just changed, reads
# back as WANT; run in the background, with the settings of pq_res ($loc, $desc, $shared,
# $allow, $lk) as they were when it started. A driver's options were seen not to stick
# when set right after the driver was made: they are set again (under the lock) until the
# queue reads back right, up to 10 times 0.5 s apart. Its result lines go to $T/r$i, said
# by pq_end.
pq_check() {
  i=$1; q=$2; pq_hidden=$3; uri=$4; want=$5; shift 5; n=0
  while :; do
    pq_state "$q" "$@" > "$T/h$i" 2>/dev/null
    [ "$(cat "$T/h$i")" != "$want" ] || { echo "@@R $i changed" > "$T/r$i"; return 0; }
    if pq_gone; then printf '@@PSDOWN %s\n@@R %s failed 1\n' "$i" "$i" > "$T/r$i"; return 0; fi
    n=$((n + 1)); [ "$n" -lt 10 ] || break; sleep 0.5
    { flock 9; pq_set "$@" </dev/null >/dev/null 2>&1; } 9>"$lk"
  done
  if [ "$pq_hidden" = 1 ]; then
    { echo 'the print server did not keep these settings (sensitive: names only):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i" | sed 's/=.*//'; } > "$T/e$i"
  else
    { echo 'the print server did not keep these settings (wanted):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i"; } > "$T/e$i"
  fi
  fail "$i" 1 "$T/e$i" > "$T/r$i"
}
# pq_ppd: $pp = the IPP Everywhere PPD of printer model $pq_model (set by a batch's
# program per printer), made once per program with cups-filters' `driverless` from the
# first printer of that model ($uri) and reused for the others; '' when there is no model
# or no driverless, or it failed (then `lpadmin -m everywhere` makes the driver). A queue
# made from a PPD file takes every setting in one lpadmin, and cupsd does not ask the
# printer itself: concurrent `-m everywhere` requests were seen to make CUPS 2.4.2's cupsd
# read freed memory (valgrind) and crash.
pq_ppd() {
  pp=
  [ -n "${pq_model:-}" ] || return 0
  command -v driverless >/dev/null 2>&1 || return 0
  pk=$(printf '%s' "$pq_model" | cksum | sed 's/ .*//')
  [ ! -f "$T/m$pk.no" ] || return 0
  if [ ! -f "$T/m$pk.ppd" ]; then
    if driverless cat "$uri" > "$T/m$pk.t" 2>/dev/null && grep -q '^\*PPD-Adobe' "$T/m$pk.t"; then
      mv -f "$T/m$pk.t" "$T/m$pk.ppd"
    else
      : > "$T/m$pk.no"; return 0
    fi
  fi
  pp="$T/m$pk.ppd"
}
# pq_set KEY=VALUE... [LPADMIN-ARG...]: applies the queue's settings ($q, $uri, $loc,
# $desc, $shared, $allow) and these options in one lpadmin, with any further arguments
pq_set() {
  for kv in "$@"; do
    shift
    case "$kv" in -*) set -- "$@" "$kv" ;; *) if [ "${pq_after:-}" = 1 ]; then set -- "$@" "$kv"; else set -- "$@" -o "$kv"; fi ;; esac
    case "$kv" in -P) pq_after=1 ;; *) pq_after=0 ;; esac
  done
  cups lpadmin -p "$q" -v "$uri" -L "$loc" -D "$desc" -o "printer-is-shared=$shared" "$@" -u "$allow"
}
# pq_lock: $lk = the lock file of queue changes on print server $cs ('' for this device's
# cupsd), in a directory of root's own (mode 0700) under /run, or under /var/lib on a
# system without /run (only root can create names in either); fails naming the
# directory when it is a link or not root's
pq_lock() {
  ld=/run/deskready; [ -d /run ] || ld=/var/lib/deskready
  [ -d "$ld" ] || mkdir -m 0700 -- "$ld" 2>"$T/e$i"
  if [ -L "$ld" ] || [ ! -O "$ld" ]; then
    printf 'refusing to lock print queue changes in %s: it must be a directory owned by root\n' "$ld" >> "$T/e$i"
    return 1
  fi
  case ${cs:-local} in */* | .*) ln=queues ;; *) ln=queues-${cs:-local} ;; esac
  lk="$ld/print-$ln.lock"
}
# pq_res I QUEUE SERVER URI LOCATION DESCRIPTION SHARED ALLOW WANT KEY=VALUE...: a print
# queue on SERVER's cupsd ('' for the local one) whose settings read back as WANT.
#
# Its settings were read by pq_pre when the program has one (else here). A new queue is
# created first and takes the printer's own capabilities (IPP Everywhere: the printer must
# answer); settings are applied once its driver exists, since lpadmin ignores driver
# options given with -m. A driver without the options asked for (made while the printer
# was off) is made again. A busy cupsd answers "Service Unavailable": a change is tried
# again, up to 20 times, 0.5 s apart, unless the scheduler is gone (then said once, and
# every later queue on it skipped). Queue changes on one print server take turns (flock):
# many `lpadmin -m everywhere` at once were seen to stall cupsd for half a minute. A
# changed queue is read back in the background and its result said by pq_end.
#
# The lock file lives where only root can create names (see `pq_lock`): in a world-writable
# directory (/tmp, and /run/lock, which Debian makes 1777) another user could hold it
# first, or put a symbolic link there that root would then open and truncate.
pq_res() {
  i=$1; q=$2; cs=$3; uri=$4; loc=$5; desc=$6; shared=$7; allow=$8; want=$9; shift 9
  # A print server that does not answer: said, and every later step skipped (failed: the
  # preamble's, read by step).
  # shellcheck disable=SC2034
  if ! pq_up; then echo "@@PSDOWN $i"; echo "@@R $i failed 1"; failed=1; return 0; fi
  if [ -f "$T/n$i" ]; then have=; exists=1
  elif [ -f "$T/s$i" ]; then have=$(cat "$T/s$i"); exists=0; [ -n "$have" ] || exists=1
  else have=$(pq_state "$q" "$@"); exists=$?
  fi
  if [ "$exists" = 0 ] && [ "$have" = "$want" ]; then echo "@@R $i ok"; return 0; fi
  # A sensitive queue (listed in $hidden; its uri may hold a password): only that its
  # settings differ, never what they were, and only the names of settings in errors.
  pq_hidden=0; case "$hidden" in *" $i "*) pq_hidden=1 ;; esac
  if [ "$pq_hidden" = 1 ]; then echo "@@C $i"
  elif [ "$exists" = 0 ]; then printf '@@O %s ' "$i"; printf '%s\n' "$have" | base64 -w0; echo
  fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  pq_lock || { fail "$i" 1 "$T/e$i"; return 0; }
  remake=0
  if [ "$exists" = 0 ] && printf '%s\n' "$have" | grep -q '^option [^=]*=$'; then remake=1; fi
  {
    flock 9; n=0
    while :; do
      rc=0
      if [ "$exists" != 0 ] || [ "$remake" = 1 ]; then pq_ppd; else pp=; fi
      if [ -n "$pp" ]; then
        pq_set "$@" -E -P "$pp" </dev/null >/dev/null 2>"$T/e$i" || rc=$?
        if [ "$rc" = 0 ]; then exists=0; remake=0; break; fi
      elif [ "$exists" != 0 ]; then
        cups lpadmin -p "$q" -E -v "$uri" -m everywhere </dev/null >/dev/null 2>"$T/e$i" || rc=$?
        [ "$rc" != 0 ] || exists=0
      elif [ "$remake" = 1 ]; then
        cups lpadmin -p "$q" -v "$uri" -m everywhere </dev/null >/dev/null 2>"$T/e$i" || rc=$?
        [ "$rc" != 0 ] || remake=0
      fi
      [ "$rc" != 0 ] || pq_set "$@" </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      [ "$rc" != 0 ] || break
      if pq_gone; then break; fi
      n=$((n + 1)); [ "$n" -lt 20 ] || break; sleep 0.5
    done
  } 9>"$lk"
  if [ "$rc" != 0 ]; then
    # shellcheck disable=SC2034
    if ! pq_up; then echo "@@PSDOWN $i"; echo "@@R $i failed 1"; failed=1; return 0; fi
    # lpadmin's own words about a sensitive queue, without the lines naming its uri
    if [ "$pq_hidden" = 1 ]; then grep -vF -e "$uri" "$T/e$i" > "$T/h$i"; cat "$T/h$i" > "$T/e$i"; fi
    fail "$i" "$rc" "$T/e$i"
  else
    pq_ck="${pq_ck:-} $i"
    pq_bg pq_check "$i" "$q" "$pq_hidden" "$uri" "$want" "$@"
  fi
}
# pq_drop QUEUE remove|disable: a retired printer's queue removed from $cs, or a returned
# one's stopped and refusing jobs; says `@@Q removed`, `@@Q disabled`, `@@Q absent` (no such
# queue), `@@Q down` (the scheduler does not answer) or `@@Q failed BASE64-WHY`
pq_drop() {
  pq_up || { echo "@@Q down"; return 0; }
  if ! pq_known "$1"; then echo "@@Q absent"; return 0; fi
  if [ "$2" = remove ]; then
    if out=$(cups lpadmin -x "$1" 2>&1); then echo "@@Q removed"; return 0; fi
  elif out=$({ cups cupsdisable "$1" && cups cupsreject "$1"; } 2>&1); then
    echo "@@Q disabled"; return 0
  fi
  echo "@@Q failed $(printf '%s' "$out" | base64 -w0)"
}
# pq_absent I QUEUE SERVER: no queue QUEUE on SERVER's cupsd ('' for this device's); a
# busy cupsd is asked again, as pq_res does
pq_absent() {
  i=$1; q=$2; cs=$3
  # shellcheck disable=SC2034
  if ! pq_up; then echo "@@PSDOWN $i"; echo "@@R $i failed 1"; failed=1; return 0; fi
  if ! cups lpstat -v "$q" >/dev/null 2>&1; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then note "$i" "would remove print queue $q"; echo "@@R $i drift"; return 0; fi
  pq_lock || { fail "$i" 1 "$T/e$i"; return 0; }
  {
    flock 9; n=0
    while :; do
      rc=0; cups lpadmin -x "$q" </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      cups lpstat -v "$q" >/dev/null 2>&1 || { rc=0; break; }
      n=$((n + 1)); [ "$n" -lt 20 ] || break; sleep 0.5
    done
  } 9>"$lk"
  [ "$rc" != 0 ] || ! cups lpstat -v "$q" >/dev/null 2>&1 || { echo "the print server still has queue $q" >> "$T/e$i"; rc=1; }
  if [ "$rc" = 0 ]; then note "$i" "removed print queue $q"; echo "@@R $i changed"; else fail "$i" "$rc" "$T/e$i"; fi
}
