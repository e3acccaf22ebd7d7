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
# pq_known QUEUE: whether $cs has QUEUE, from one listing of all its queues per program and
# server: one CUPS-Get-Printers (pq_listed) where ipptool is installed, else one `lpstat -v`
# (and `lpstat -l -p`, read by pq_state in pq_read); asking CUPS for one missing queue
# costs a second of DNS-SD browsing
pq_known() {
  if pq_listed; then
    awk -v q="$1" -v f="$T/pi$sn" "$pq_awk" /dev/null 2>/dev/null | grep -q .
    return
  fi
  if [ "${pq_lv:-}" != "[$cs]" ]; then
    cups lpstat -v > "$T/pv" 2>/dev/null; cups lpstat -l -p > "$T/pl" 2>/dev/null; pq_lv="[$cs]"
  fi
  grep -qF "device for $1: " "$T/pv"
}
# pq_sn: $sn = the number of print server $cs in this program (its listing is $T/pi$sn)
pq_sn() {
  sn=0
  while [ "$sn" -lt "${pq_ns:-0}" ]; do
    sn=$((sn + 1)); pk_c=; eval "pk_c=\$pq_s$sn"
    [ "$pk_c" != "$cs" ] || return 0
  done
  pq_ns=$((${pq_ns:-0} + 1)); sn=$pq_ns; eval "pq_s$sn=\$cs"
}
# pq_list: $T/pi$sn = every queue of $cs (name, device-uri, location, info, sharing, users
# allowed, its own URI) from ONE CUPS-Get-Printers request with ipptool (cups-ipp-utils),
# which browses no DNS-SD; fails without ipptool or curl (which fetches the PPDs, see
# pq_bulk), for a server named by a socket path, or when the request fails (then the
# queues are read with lpstat and lpoptions)
pq_list() {
  pq_sn
  case "${cs:-}" in */*) return 1 ;; esac
  command -v ipptool >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || return 1
  # shellcheck disable=SC2016 # $user: ipptool's variable
  [ -f "$T/gp.test" ] || printf '%s\n' '{' 'OPERATION CUPS-Get-Printers' 'GROUP operation-attributes-tag' \
    'ATTR charset attributes-charset utf-8' 'ATTR naturalLanguage attributes-natural-language en' \
    'ATTR name requesting-user-name $user' \
    'ATTR keyword requested-attributes printer-name,device-uri,printer-location,printer-info,printer-is-shared,requesting-user-name-allowed,printer-uri-supported' \
    'STATUS successful-ok' 'STATUS client-error-not-found' '}' > "$T/gp.test"
  ipptool -tv "ipp://${cs:-localhost}/" "$T/gp.test" > "$T/pi$sn.t" 2>/dev/null || return 1
  mv -f "$T/pi$sn.t" "$T/pi$sn"
}
# pq_listed: whether $cs's queues are read in bulk (pq_list, taken once per program and
# server); $sn is its number
pq_listed() {
  pq_sn
  case "${pq_lok:-}" in *"[$sn]"*) return 0 ;; esac
  case "${pq_lno:-}" in *"[$sn]"*) return 1 ;; esac
  if pq_list; then pq_lok="${pq_lok:-}[$sn]"; return 0; fi
  pq_lno="${pq_lno:-}[$sn]"; return 1
}
# pq_keys KEY=VALUE...: $ks = the KEYs, space-separated
pq_keys() { ks=; for kv in "$@"; do ks="$ks ${kv%%=*}"; done; ks=${ks# }; }
# pq_bulk FILE MODE: one pass over the queues listed in FILE ("I<TAB>QUEUE<TAB>LISTING<TAB>KEYS"
# lines), with one curl fetching the PPDs (driver options) of all those that have options
# (at the URI cupsd gives for the queue, as lpoptions -l does; into a directory of this
# pass's own), then one awk computing every
# queue's state as pq_state does (see pq_awk's MODE)
pq_bulk() {
  pq_pass=$((${pq_pass:-0} + 1)); mkdir "$T/pd$pq_pass"
  awk -v mode=urls -v T="$T" -v D="$T/pd$pq_pass" "$pq_awk" "$1" > "$T/pu" 2>/dev/null || :
  if [ -s "$T/pu" ]; then curl -sfk -K "$T/pu" >/dev/null 2>&1 || :; fi
  awk -v mode="$2" -v T="$T" -v D="$T/pd$pq_pass" "$pq_awk" "$1"
}
# The bulk reader (awk). A queue I's state, as pq_state writes it, from its server's
# listing and its PPD ($T/dI): mode `pre` writes it to $T/sI (or notes a missing queue in
# $T/nI) and marks $T/pkI when it equals $T/pwI (what the queue should be); mode `check`
# writes it to $T/hI and prints "I ok" or "I bad", keeping the bad lines in $T/pc.n; mode
# `urls` prints curl's config fetching the PPDs; with -v q=QUEUE -v f=LISTING, prints
# QUEUE when the listing has it.
# shellcheck disable=SC2016 # awk's program
pq_awk='
function load(f,   line, name, v, rest) {
  if (f in loaded) return
  loaded[f] = 1; on = 0; split("", g)
  while ((getline line < f) > 0) {
    if (!on) { if (line ~ /^ *status-code = /) on = 1; continue }
    if (line ~ /^ *-- separator --$/) { keep(f); continue }
    if (line ~ /^ *[a-z-]+ \([^)]*\) =( |$)/) {
      rest = line; sub(/^ */, "", rest); name = rest; sub(/ .*/, "", name)
      v = rest; sub(/^[^=]*= ?/, "", v)
      if (rest ~ /^[a-z-]+ \(no-value\)/) v = ""
      g[name] = v
    }
  }
  keep(f); close(f)
}
function keep(f,   k) {
  if ("printer-name" in g) {
    k = f SUBSEP g["printer-name"]; has[k] = 1
    uri[k] = g["device-uri"]; loc[k] = g["printer-location"]; info[k] = g["printer-info"]
    shared[k] = (g["printer-is-shared"] == "true") ? "true" : "false"
    users[k] = g["requesting-user-name-allowed"]
    self[k] = g["printer-uri-supported"]; sub(/,.*/, "", self[k])
  }
  split("", g)
}
function sorted(list,   n, a, i, j, t, out) {
  n = split(list, a, ",")
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  out = ""
  for (i = 1; i <= n; i++) if (a[i] != "" && a[i] != "(all)") out = out (out == "" ? "" : ",") a[i]
  return out
}
function ppd(file,   line, k, v) {
  split("", ui); split("", dflt)
  while ((getline line < file) > 0) {
    sub(/\r$/, "", line)
    if (line ~ /^\*OpenUI \*/) { k = substr(line, 10); sub(/[\/:].*/, "", k); ui[k] = 1 }
    else if (line ~ /^\*Default[^:]*:/) {
      k = substr(line, 9); sub(/:.*/, "", k); v = line; sub(/^[^:]*: */, "", v); sub(/[ \t]+$/, "", v); dflt[k] = v
    }
  }
  close(file)
}
function wanted(file,   line, w, n) {
  w = ""; n = 0
  while ((getline line < file) > 0) { w = w (n++ ? "\n" : "") line }
  close(file); return w
}
BEGIN { FS = "\t"; if (q != "") { load(f); if ((f SUBSEP q) in has) print q; exit } }
{
  i = $1; k = $3 SUBSEP $2; load($3)
  if (mode == "urls") {
    if ((k in has) && $4 != "" && self[k] != "") {
      u = self[k] ".ppd"; sub(/^ipps:/, "https:", u); sub(/^ipp:/, "http:", u)
      gsub(/\\/, "\\\\", u); gsub(/"/, "\\\"", u)
      printf "url = \"%s\"\noutput = \"%s/d%s\"\n", u, D, i
    }
    next
  }
  if (!(k in has)) {
    if (mode == "pre") { printf "" > (T "/n" i); close(T "/n" i) } else { print i " gone"; print > (T "/pc.n") }
    next
  }
  s = "uri=" uri[k] "\nlocation=" loc[k] "\ndescription=" info[k] "\nshared=" shared[k] "\nallowed_users=" sorted(users[k])
  if ($4 != "") {
    ppd(D "/d" i); n = split($4, ks, " ")
    for (j = 1; j <= n; j++) s = s "\noption " ks[j] "=" ((ks[j] in ui) ? dflt[ks[j]] : "")
  }
  out = T ((mode == "pre") ? "/s" : "/h") i
  print s > out; close(out)
  same = (s == wanted(T "/pw" i))
  if (mode == "pre") { if (same) { printf "" > (T "/pk" i); close(T "/pk" i) } }
  else if (same) print i " ok"
  else { print i " bad"; print > (T "/pc.n") }
}'
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
# pq_pre I QUEUE SERVER WANT KEY=VALUE...: starts reading queue I's settings as pq_state
# does: noted for one bulk read of all the program's queues (pq_listed; WANT kept in $T/pwI,
# compared there), else in the background into $T/sI; or notes in $T/nI that SERVER has no
# such queue. Written before the queue steps, so that reading a batch of queues costs one
# request, or about one client's time, not one per queue (see pq_bg).
pq_pre() {
  i=$1; q=$2; cs=$3; want=$4; shift 4
  pq_up || return 0
  if pq_listed; then
    pq_keys "$@"; printf '%s\n' "$want" > "$T/pw$i"
    printf '%s\t%s\t%s\t%s\n' "$i" "$q" "$T/pi$sn" "$ks" >> "$T/pq"
    return 0
  fi
  if ! pq_known "$q"; then : > "$T/n$i"; return 0; fi
  pq_bg pq_read "$i" "$q" "$@"
}
pq_read() { i=$1; shift; pq_snap=1; pq_state "$@" > "$T/s$i.t" 2>/dev/null; mv -f "$T/s$i.t" "$T/s$i"; }
# pq_pre_end: every read started by pq_pre has finished
pq_pre_end() {
  pq_wait
  if [ -f "$T/pq" ]; then pq_bulk "$T/pq" pre; fi
}
# pq_recheck: the queues this program changed, noted by pq_res in $T/pc, read back in bulk
# (a fresh listing of their servers, their PPDs) until each reads back as wanted: a queue
# that does not is set again (under the lock) up to 10 times 0.5 s apart, as pq_check does;
# each one's result said
# shellcheck disable=SC2120 # sets its own positional parameters
pq_recheck() {
  n=0
  while [ -s "$T/pc" ]; do
    k=0; while [ "$k" -lt "${pq_ns:-0}" ]; do
      k=$((k + 1)); eval "cs=\$pq_s$k"
      case "${pq_lok:-}" in *"[$k]"*) pq_list || : ;; esac
    done
    rm -f "$T/pc.n"
    pq_bulk "$T/pc" check > "$T/pr"
    while read -r pi how; do
      [ "$how" != ok ] || echo "@@R $pi changed"
    done < "$T/pr"
    if [ -f "$T/pc.n" ]; then mv -f "$T/pc.n" "$T/pc"; else : > "$T/pc"; fi
    [ -s "$T/pc" ] || break
    n=$((n + 1))
    # shellcheck disable=SC2034 # the rest of the line
    while read -r pi pq_rest; do
      pk_v=; eval "pk_v=\$pq_a$pi"; eval "set -- $pk_v"
      i=$1; q=$2; cs=$3; uri=$4; loc=$5; desc=$6; shared=$7; allow=$8; want=$9; shift 9
      if pq_gone || [ "$n" -ge 10 ]; then continue; fi
      pq_lock || continue
      { flock 9; pq_set "$@" </dev/null >/dev/null 2>&1; } 9>"$lk"
    done < "$T/pc"
    [ "$n" -lt 10 ] || break
    if pq_gone; then break; fi
    sleep 0.5
  done
  [ -s "$T/pc" ] || return 0
  # shellcheck disable=SC2034 # the rest of the line
  while read -r pi pq_rest; do
    pk_v=; eval "pk_v=\$pq_a$pi"; eval "set -- $pk_v"
    i=$1; q=$2; cs=$3; want=$9
    # shellcheck disable=SC2034
    if pq_gone; then printf '@@PSDOWN %s\n@@R %s failed 1\n' "$i" "$i"; failed=1; continue; fi
    [ -f "$T/h$i" ] || : > "$T/h$i"
    pq_hidden=0; case "$hidden" in *" $i "*) pq_hidden=1 ;; esac
    if [ "$pq_hidden" = 1 ]; then
      { echo 'the print server did not keep these settings (sensitive: names only):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i" | sed 's/=.*//'; } > "$T/e$i"
    else
      { echo 'the print server did not keep these settings (wanted):'; printf '%s\n' "$want" | grep -vxF -f "$T/h$i"; } > "$T/e$i"
    fi
    fail "$i" 1 "$T/e$i"
  done < "$T/pc"
}
# pq_keep I ARG...: remembers ARGs for queue I (read back by pq_recheck), quoted for the
# shell with builtins only: `eval "pk_v=\$pq_aI"; eval "set -- $pk_v"` gives them back (the
# second eval removes the quotes)
pq_keep() {
  pk_i=$1; shift; pk_s=
  for a in "$@"; do
    pk_r=
    while :; do case $a in *\'*) pk_r="$pk_r${a%%\'*}'\\''"; a=${a#*\'} ;; *) break ;; esac; done
    pk_s="$pk_s '$pk_r$a'"
  done
  eval "pq_a$pk_i=\$pk_s"
}
# pq_end: the queues changed by this program read back (in the background, see pq_check),
# each one's result said; a failed one fails the program as a failed step does
pq_end() {
  pq_wait
  if [ -s "$T/pc" ]; then pq_recheck; fi
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
  if [ -f "$T/pk$i" ]; then echo "@@R $i ok"; return 0; fi
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
  elif pq_listed; then
    # read back in bulk with the program's other changed queues, by pq_end
    pq_keep "$i" "$i" "$q" "$cs" "$uri" "$loc" "$desc" "$shared" "$allow" "$want" "$@"
    pq_keys "$@"; printf '%s\n' "$want" > "$T/pw$i"
    printf '%s\t%s\t%s\t%s\n' "$i" "$q" "$T/pi$sn" "$ks" >> "$T/pc"
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
# pq_still QUEUE: whether $cs has QUEUE right now (a fresh listing, or lpstat)
pq_still() {
  if pq_listed && pq_list; then pq_known "$1"; else cups lpstat -v "$1" >/dev/null 2>&1; fi
}
# pq_absent I QUEUE SERVER: no queue QUEUE on SERVER's cupsd ('' for this device's); a
# busy cupsd is asked again, as pq_res does
pq_absent() {
  i=$1; q=$2; cs=$3
  # shellcheck disable=SC2034
  if ! pq_up; then echo "@@PSDOWN $i"; echo "@@R $i failed 1"; failed=1; return 0; fi
  if ! pq_known "$q"; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then note "$i" "would remove print queue $q"; echo "@@R $i drift"; return 0; fi
  pq_lock || { fail "$i" 1 "$T/e$i"; return 0; }
  {
    flock 9; n=0
    while :; do
      rc=0; cups lpadmin -x "$q" </dev/null >/dev/null 2>"$T/e$i" || rc=$?
      pq_still "$q" || { rc=0; break; }
      n=$((n + 1)); [ "$n" -lt 20 ] || break; sleep 0.5
    done
  } 9>"$lk"
  [ "$rc" != 0 ] || ! pq_still "$q" || { echo "the print server still has queue $q" >> "$T/e$i"; rc=1; }
  if [ "$rc" = 0 ]; then note "$i" "removed print queue $q"; echo "@@R $i changed"; else fail "$i" "$rc" "$T/e$i"; fi
}
