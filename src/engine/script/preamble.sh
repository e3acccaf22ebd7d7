# shellcheck shell=sh
# shellcheck disable=SC2034 # got, size, t: read by the kinds' helpers
# The start of every program deskready runs on a device: its temp directory, the
# protocol's helpers, and the steps every resource kind shares. Sourced text, not run
# on its own: the program sets `fix` (1 to change things, 0 to only look) and `hidden`
# (the resources whose content is sensitive, as " I J ") after it.
set -u
umask 022
export LC_ALL=C
# $1 is this program's private temp directory (see BOOTSTRAP), holding its pid and the
# program itself, which is already open, so it goes now.
if [ $# -ge 1 ]; then
  T=$1; rm -f -- "$T/program"
else
  T=$(mktemp -d "${TMPDIR:-/tmp}/deskready.XXXXXXXX") || { echo '@@FATAL mktemp'; exit 97; }
  echo $$ > "$T/pid"
fi
# alive PID: the process runs (a zombie, killed but not yet reaped, does not)
alive() { kill -0 "$1" 2>/dev/null && case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) false ;; *) true ;; esac; }
# A program killed outright (SIGKILL: no trap runs) leaves its directory behind; the
# next program on the device removes those whose program is gone.
for d in "${TMPDIR:-/tmp}"/deskready.*; do
  if [ "$d" != "$T" ] && [ -f "$d/pid" ] && ! alive "$(cat "$d/pid")"; then rm -rf -- "$d"; fi
done
# $T holds staged contents, some of them secret: it goes however the program ends (its
# end, a signal, or its connection gone: the next write to it raises SIGPIPE), and so
# does a temp file beside a target that a cut write leaves.
t=
gone() { rm -rf "$T"; [ -z "$t" ] || rm -f -- "$t"; }
trap gone EXIT
trap 'gone; trap - EXIT; exit 129' HUP
trap 'gone; trap - EXIT; exit 130' INT
trap 'gone; trap - EXIT; exit 141' PIPE
trap 'gone; trap - EXIT; exit 143' TERM
hidden=
failed=0
: > "$T/sums"; : > "$T/stats"

# stage I SIZE: the next SIZE bytes of stdin are resource I's new content
stage() { head -c "$2" > "$T/f$1"; }
# staged TOTAL: every staged byte arrived, or the program stops here
staged() { [ "$(cat "$T"/f* | wc -c)" -eq "$1" ] || { echo '@@STAGE short'; exit 98; }; }
# sums PATH...: every path's sha256, read once for all resources
sums() { sha256sum -- "$@" > "$T/sums" 2>/dev/null; }
# stats PATH...: every path's mode, owner, group and size, read once for all resources
stats() { stat -c '%a %U %G %s %n' -- "$@" > "$T/stats" 2>/dev/null; }
# sum_of PATH: $got = PATH's sha256 when the program started ('' when it did not exist)
sum_of() { got=; while read -r h n; do if [ "$n" = "$1" ]; then got=$h; return 0; fi; done < "$T/sums"; }
# stat_of PATH: $got = "MODE OWNER GROUP" and $size, when the program started ('' if none)
stat_of() {
  got=; size=0
  while read -r a u g z n; do if [ "$n" = "$1" ]; then got="$a $u $g"; size=$z; return 0; fi; done < "$T/stats"
}
# meta_is "MODE OWNER GROUP" MODE OWNER GROUP: whether read metadata is as wanted; an
# empty wanted value matches anything, empty metadata matches nothing
meta_is() {
  [ -n "$1" ] || return 1
  ma=${1%% *}; mr=${1#* }; mo=${mr%% *}; mg=${mr#* }
  { [ -z "$2" ] || [ "$ma" = "$2" ]; } && { [ -z "$3" ] || [ "$mo" = "$3" ]; } && { [ -z "$4" ] || [ "$mg" = "$4" ]; }
}
# old I PATH SIZE: send a file's current content for a diff (when not too large); of a
# sensitive resource (listed in $hidden), only that its content differs
old() {
  case "$hidden" in *" $1 "*) echo "@@C $1"; return 0 ;; esac
  if [ -f "$2" ] && [ "$3" -le 1048576 ]; then
    printf '@@O %s ' "$1"; base64 -w0 < "$2"; echo
  fi
}
# tmpname PATH: $t = a temp file beside PATH, for an atomic rename; first removes temp
# files that an earlier run cut off (a dropped connection) left beside PATH
tmpname() {
  d=${1%/*}; [ -n "$d" ] || d=/; b=${1##*/}
  for x in "$d/.$b.deskready-"*; do [ -e "$x" ] && rm -f -- "$x"; done
  t="$d/.$b.deskready-$$"
}
# fail I RC ERRFILE: resource I failed with exit code RC; ERRFILE's tail says why
fail() { echo "@@R $1 failed $2"; printf '@@E %s ' "$1"; tail -n 20 "$3" | base64 -w0; echo; failed=1; }
# done_with I RC: resource I changed when RC is 0, else failed with its stderr
done_with() { if [ "$2" = 0 ]; then echo "@@R $1 changed"; else fail "$1" "$2" "$T/e$1"; fi; }
# step KIND I ARG...: resource I of KIND, or skipped once an earlier one failed
step() { if [ "$failed" = 1 ]; then echo "@@R $2 skipped"; else "$@"; fi; }
# check J COMMAND: verify check J, once every resource is done and none failed
check() {
  [ "$failed" = 0 ] || return 0
  (eval "$2") </dev/null >"$T/v$1" 2>&1; rc=$?
  if [ $rc = 0 ]; then echo "@@V $1 pass"; else
    echo "@@V $1 fail $rc"; printf '@@VE %s ' "$1"; tail -n 20 "$T/v$1" | base64 -w0; echo
  fi
}
