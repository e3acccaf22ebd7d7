# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# cups CMD...: a CUPS client command, against $cs when set (the print server's cupsd)
cups() { if [ -n "${cs:-}" ]; then CUPS_SERVER="$cs" "$@"; else "$@"; fi; }
# pq_up: whether the scheduler (cupsd) of $cs answers; asked once per server and program,
# so a dead print server costs one quick question, not an lpadmin retried until it gives up
pq_up() {
  case "${pq_seen:-}" in *"[$cs]=up"*) return 0 ;; *"[$cs]=down"*) return 1 ;; esac
  if [ "$(cups lpstat -r 2>/dev/null)" = "scheduler is running" ]; then pq_seen="${pq_seen:-}[$cs]=up"; return 0; fi
  pq_seen="${pq_seen:-}[$cs]=down"; return 1
}
# pq_state QUEUE KEY=VALUE...: the queue's settings as deskready compares them (each
# option's KEY read back); fails when there is no such queue
pq_state() {
  cups lpstat -v "$1" >/dev/null 2>&1 || return 1
  printf 'uri=%s\n' "$(cups lpstat -v "$1" 2>/dev/null | sed -n 's/^device for [^:]*: //p')"
  pl=$(cups lpstat -l -p "$1" 2>/dev/null)
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
# pq_set KEY=VALUE...: applies the queue's settings ($q, $uri, $loc, $desc, $shared,
# $allow) and these options in one lpadmin
pq_set() {
  for kv in "$@"; do shift; set -- "$@" -o "$kv"; done
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
# A new queue is created first and takes the printer's own capabilities (IPP
# Everywhere: the printer must answer); settings are applied once its driver exists,
# since lpadmin ignores driver options given with -m. A driver without the options asked
# for (made while the printer was off) is made again. A busy cupsd answers "Service
# Unavailable": every step is tried again, up to 20 times, 0.5 s apart, until the queue
# reads back right. Queue changes on one print server take turns (flock): many `lpadmin
# -m everywhere` at once were seen to stall cupsd for half a minute.
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
  have=$(pq_state "$q" "$@"); exists=$?
  if [ "$exists" = 0 ] && [ "$have" = "$want" ]; then echo "@@R $i ok"; return 0; fi
  # A sensitive queue (listed in $hidden; its uri may hold a password): only that its
  # settings differ, never what they were, and only the names of settings in errors.
  pq_hidden=0; case "$hidden" in *" $i "*) pq_hidden=1 ;; esac
  if [ "$pq_hidden" = 1 ]; then echo "@@C $i"
  elif [ "$exists" = 0 ]; then printf '@@O %s ' "$i"; printf '%s\n' "$have" | base64 -w0; echo
  fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  pq_lock || { fail "$i" 1 "$T/e$i"; return 0; }
  {
    flock 9; n=0
    while :; do
      rc=0
      if ! cups lpstat -v "$q" >/dev/null 2>&1; then
        cups lpadmin -p "$q" -E -v "$uri" -m everywhere </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      elif pq_state "$q" "$@" | grep -q '^option [^=]*=$'; then
        cups lpadmin -p "$q" -v "$uri" -m everywhere </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      fi
      [ "$rc" != 0 ] || pq_set "$@" </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      [ "$rc" != 0 ] || [ "$(pq_state "$q" "$@")" != "$want" ] || break
      n=$((n + 1)); [ "$n" -lt 20 ] || break; sleep 0.5
    done
  } 9>"$lk"
  if [ "$rc" != 0 ]; then
    # lpadmin's own words about a sensitive queue, without the lines naming its uri
    if [ "$pq_hidden" = 1 ]; then grep -vF -e "$uri" "$T/e$i" > "$T/h$i"; cat "$T/h$i" > "$T/e$i"; fi
    fail "$i" "$rc" "$T/e$i"
  elif [ "$(pq_state "$q" "$@")" = "$want" ]; then echo "@@R $i changed"
  else
    pq_state "$q" "$@" > "$T/h$i"
    if [ "$pq_hidden" = 1 ]; then
      { echo 'the print server did not keep these settings (sensitive: names only):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i" | sed 's/=.*//'; } > "$T/e$i"
    else
      { echo 'the print server did not keep these settings (wanted):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i"; } > "$T/e$i"
    fi
    fail "$i" 1 "$T/e$i"
  fi
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
