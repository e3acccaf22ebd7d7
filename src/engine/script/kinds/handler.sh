# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed: set by the preamble
# Handlers: run once, after the resources, when a resource notifying them changed. Each
# handler has a marker file in $HD, written BEFORE a notifying resource is fixed and
# removed only once the handler ran: a program that dies between the change and the
# handler (a cut connection, a kill, a reboot) leaves the marker, and the next program
# on the device runs the handler. A fix that changed nothing removes the markers it wrote;
# one that failed keeps them (it may have changed part of its thing before failing).
HD=/var/lib/deskready/handlers
# the markers notified in this program, as " M M "; the notifying resources not settled yet
notified=' '
nwait=

# notify_step I MARKERS KIND ARG...: `step KIND ARG...` for resource I, whose change (or,
# in a plan, drift) notifies the handlers MARKERS. A file's change is only known once it
# is committed: until its `@@R` line, I waits (in $nwait) and `notify_commit` settles it.
notify_step() {
  ni=$1; nm=$2; shift 2
  if [ "$failed" = 1 ]; then echo "@@R $ni skipped"; return 0; fi
  made=
  if [ "$fix" = 1 ]; then
    mkdir -p "$HD" 2>/dev/null
    for m in $nm; do [ -e "$HD/$m" ] || { : > "$HD/$m" 2>/dev/null && made="$made $m"; }; done
  fi
  eval "nm_$ni=\$nm; nmade_$ni=\$made"
  nwait="$nwait $ni"
  "$@" > "$T/n$ni"
  cat "$T/n$ni"
  notify_settle "$T/n$ni"
}
# notify_commit: `commit`, then settles the notifying files it reported on
notify_commit() { commit > "$T/nc"; cat "$T/nc"; notify_settle "$T/nc"; }
# notify_settle FILE: each waiting resource that FILE reports on: changed (or drifted)
# notifies its handlers; failed keeps the markers it wrote (it may have changed part of its
# thing); anything else removes them
notify_settle() {
  still=
  for wi in $nwait; do
    eval "wm=\$nm_$wi; wmade=\$nmade_$wi"
    # shellcheck disable=SC2154 # wm, wmade: set by the eval above
    if grep -q -e "^@@R $wi changed" -e "^@@R $wi drift" "$1"; then
      for m in $wm; do notified="$notified$m "; done
    elif grep -q "^@@R $wi failed" "$1"; then :
    elif grep -q "^@@R $wi " "$1"; then
      for m in $wmade; do rm -f "$HD/$m"; done
    else
      still="$still $wi"
    fi
  done
  nwait=$still
}
# handler_res I MARKER ACTION WHAT: when notified in this program or pending from an
# earlier one, restart|reload the service WHAT, or run the command WHAT (ACTION command)
handler_res() {
  i=$1; m=$2; a=$3; x=$4
  case $notified in
    *" $m "*) why= ;;
    *) if [ -e "$HD/$m" ]; then why=' (pending from an earlier run)'; else echo "@@R $i ok"; return 0; fi ;;
  esac
  if [ "$a" = command ]; then words="run $x"; did="ran $x"; else words="$a $x"; did="$(svc_words "$a" ed) $x"; fi
  if [ "$fix" != 1 ]; then svc_note "$i" "would $words$why"; echo "@@R $i drift"; return 0; fi
  if [ "$a" = command ]; then
    (eval "$x") </dev/null >/dev/null 2>"$T/e$i" || { fail "$i" $? "$T/e$i"; return 0; }
  else
    svc_do "$i" "$x" "$a" || return 0
  fi
  rm -f "$HD/$m"
  svc_note "$i" "$did$why"
  echo "@@R $i changed"
}
