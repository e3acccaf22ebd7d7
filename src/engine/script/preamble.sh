# shellcheck shell=sh
# shellcheck disable=SC2034 # got, size, t: read by the kinds' helpers
# The start of every program deskready runs on a device: its temp directory, the
# protocol's helpers, and the steps every resource kind shares. Sourced text, not run
# on its own: the program sets `fix` (1 to change things, 0 to only look) after it.
set -u
# $1 is this program's own temp file (see BOOTSTRAP); it is already open, so remove it.
[ $# -ge 1 ] && rm -f -- "$1"
umask 022
export LC_ALL=C
T=$(mktemp -d) || { echo '@@FATAL mktemp'; exit 97; }
trap 'rm -rf "$T"' EXIT
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
# old I PATH SIZE: send a file's current content for a diff (when not too large)
old() {
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
