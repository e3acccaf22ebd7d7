# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed: set by the preamble
# Services: systemd's `systemctl` where PID 1 is systemd (/run/systemd/system exists),
# else Debian's `service` and `update-rc.d`. Probe before fix; what a service resource
# would do or did travels as its message (an `@@E` line, also sent when it did not fail).

# svc_systemd: whether PID 1 is systemd
svc_systemd() { [ -d /run/systemd/system ]; }
# svc_note I TEXT: resource I's message
svc_note() { printf '@@E %s ' "$1"; printf '%s' "$2" | base64 -w0; echo; }
# svc_active UNIT: whether it runs
svc_active() {
  if svc_systemd; then systemctl is-active --quiet "$1"
  else service "$1" status >/dev/null 2>&1; fi
}
# svc_enabled UNIT: whether it starts at boot
svc_enabled() {
  if svc_systemd; then systemctl is-enabled --quiet "$1" 2>/dev/null
  else ls /etc/rc[2345].d/S[0-9][0-9]"$1" >/dev/null 2>&1; fi
}
# svc_reload_units UNIT: systemd rereads unit files when UNIT's changed on disk
svc_reload_units() {
  if svc_systemd && [ "$(systemctl show -p NeedDaemonReload --value "$1" 2>/dev/null)" = yes ]; then
    systemctl daemon-reload
  fi
}
# svc_do I UNIT ACTION: start|stop|restart|reload|enable|disable UNIT; a start, restart or
# reload that fails (or leaves the unit not running) fails resource I with the unit's last
# journal lines, then what the command said
svc_do() {
  i=$1; u=$2; a=$3
  case $a in
    enable|disable)
      if svc_systemd; then systemctl "$a" "$u"; else update-rc.d "$u" defaults && update-rc.d "$u" "$a"; fi \
        </dev/null >/dev/null 2>"$T/e$i" || { fail "$i" $? "$T/e$i"; return 1; }
      return 0 ;;
  esac
  svc_reload_units "$u" 2>/dev/null
  if svc_systemd; then systemctl "$a" "$u"; else service "$u" "$a"; fi </dev/null >/dev/null 2>"$T/c$i"; rc=$?
  # Status 219/CGROUP: systemd could not set up the unit's control group (a fault of PID
  # 1's, seen under load on cgroup v1, never the service's own): tried once more.
  if [ "$rc" != 0 ] && [ "$a" != stop ] && svc_systemd &&
    [ "$(systemctl show -p ExecMainStatus --value "$u" 2>/dev/null)" = 219 ]; then
    systemctl reset-failed "$u" 2>/dev/null
    systemctl "$a" "$u" </dev/null >/dev/null 2>"$T/c$i"; rc=$?
  fi
  if [ "$rc" = 0 ] && { [ "$a" = stop ] || svc_active "$u"; }; then return 0; fi
  [ "$rc" != 0 ] || rc=3
  if svc_systemd; then journalctl -u "$u" -n 20 --no-pager 2>&1; fi > "$T/e$i"
  cat "$T/c$i" >> "$T/e$i"
  fail "$i" "$rc" "$T/e$i"; return 1
}
# service_res I UNIT STATE ENABLED: UNIT running or stopped (STATE), started at boot or
# not (ENABLED true|false, '' to leave it)
service_res() {
  i=$1; u=$2; want=$3; en=$4; todo=
  if svc_active "$u"; then run=running; else run=stopped; fi
  [ "$run" = "$want" ] || { [ "$want" = running ] && todo=start || todo=stop; }
  if [ -n "$en" ]; then
    if svc_enabled "$u"; then is=true; else is=false; fi
    [ "$is" = "$en" ] || { [ "$en" = true ] && todo="$todo enable" || todo="$todo disable"; }
  fi
  if [ -z "$todo" ]; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then svc_note "$i" "would $(svc_words "$todo") $u"; echo "@@R $i drift"; return 0; fi
  for a in $todo; do svc_do "$i" "$u" "$a" || return 0; done
  svc_note "$i" "$(svc_words "$todo" ed) $u"
  echo "@@R $i changed"
}
# svc_words "ACTION..." [ed]: the actions as words: "start, enable" or "started, enabled"
svc_words() {
  w=
  for a in $1; do
    case ${2:-}$a in edstart) a=started ;; edstop) a=stopped ;; edenable) a=enabled ;; eddisable) a=disabled ;; edrestart) a=restarted ;; edreload) a=reloaded ;; esac
    w="${w:+$w, }$a"
  done
  printf '%s' "$w"
}
# svc_local_file UNIT: the file of UNIT when it is a local one deskready may remove (under
# /etc/systemd/system, from no package); '' for a unit a package ships (under /lib or
# /usr/lib: it goes with its package) or one without a file
svc_local_file() {
  f=$(systemctl show -p FragmentPath --value "$1" 2>/dev/null)
  case $f in /etc/systemd/system/*) ;; *) return 0 ;; esac
  if [ -f "$f" ] && [ ! -L "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1; then printf '%s' "$f"; fi
}
# svc_dangling UNIT: the links under /etc/systemd/system that would still start UNIT at
# boot though its unit file is gone (removed by an earlier resource): `systemctl disable`
# cannot find the unit to remove them
svc_dangling() {
  case $1 in *.*) n=$1 ;; *) n=$1.service ;; esac
  for l in /etc/systemd/system/*.wants/"$n" /etc/systemd/system/*.requires/"$n"; do
    if [ -L "$l" ] && [ ! -e "$l" ]; then printf '%s\n' "$l"; fi
  done
}
# service_absent I UNIT: UNIT stopped, not started at boot, and its unit file removed when
# it is a local one (see svc_local_file), then systemd reloaded
service_absent() {
  i=$1; u=$2; todo=; uf=; dl=
  if svc_active "$u"; then todo=stop; fi
  if svc_enabled "$u"; then todo="$todo disable"
  elif svc_systemd; then dl=$(svc_dangling "$u"); [ -z "$dl" ] || todo="$todo disable"; fi
  if svc_systemd; then uf=$(svc_local_file "$u"); fi
  if [ -z "$todo" ] && [ -z "$uf" ]; then echo "@@R $i ok"; return 0; fi
  m=$(svc_words "$todo"); [ -z "$m" ] || m="$m $u"; [ -z "$uf" ] || m="${m:+$m and }remove $uf"
  if [ "$fix" != 1 ]; then note "$i" "would $m"; echo "@@R $i drift"; return 0; fi
  for a in $todo; do
    if [ "$a" = disable ] && [ -n "$dl" ]; then
      printf '%s\n' "$dl" | while IFS= read -r l; do rm -f -- "$l"; done
      systemctl daemon-reload </dev/null >/dev/null 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
    else
      svc_do "$i" "$u" "$a" || return 0
    fi
  done
  if [ -n "$uf" ]; then
    { rm -f -- "$uf" && systemctl daemon-reload && { systemctl reset-failed "$u" 2>/dev/null; :; }; } </dev/null >/dev/null 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
  fi
  m=$(svc_words "$todo" ed); [ -z "$m" ] || m="$m $u"; [ -z "$uf" ] || m="${m:+$m and }removed $uf"
  note "$i" "$m"
  echo "@@R $i changed"
}
