# shellcheck shell=sh
# shellcheck disable=SC2034,SC2317 # got, size, t: read by the kinds' helpers; helpers only some programs call
# The start of every program deskready runs on a device: its temp directory, the
# protocol's helpers, and the steps every resource kind shares. Sourced text, not run
# on its own: the program sets `fix` (1 to change things, 0 to only look) and `hidden`
# (the resources whose content is sensitive, as " I J ") after it, and checks that it
# was sent whole.
#
# The bootstrap (see `Dialect::bootstrap_within`) read the channel's whole stdin ONCE into
# "$1/program", a regular file in the program's private directory $1 (mode 0700, holding
# its pid): this program, then the staged contents, then a seal (`@@DATA` and their
# sha256). The program runs from that file, and the kinds carve each content out of it by
# its distance from the end: no tool ever reads stdin, so shells and tools that read ahead
# on a pipe (busybox) work.
set -u
umask 022
export LC_ALL=C
if [ $# -ge 1 ]; then
  T=$1
else
  T=$(mktemp -d "${TMPDIR:-/tmp}/deskready.XXXXXXXX") || { echo '@@FATAL mktemp'; exit 97; }
  echo $$ > "$T/pid"
fi
# A program killed outright (SIGKILL: no trap runs) leaves its directory behind; the
# next program on the device removes those whose program is gone (ours only: owned by
# root, not a link).
for d in "${TMPDIR:-/tmp}"/deskready.*; do
  if [ "$d" != "$T" ] && [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] && [ -f "$d/pid" ]; then
    xp=; read -r xp < "$d/pid" || :
    case $xp in '' | *[!0-9]*) continue ;; esac
    alive "$xp" || rm -rf -- "$d"
  fi
done
# $T holds staged contents, some of them secret: it goes however the program ends (its
# end, a signal, or its connection gone: the next write to it raises SIGPIPE), and so
# do the temp files beside targets that a cut write leaves.
t=; np=0
gone() {
  [ -z "$wd_dog" ] || kill "$wd_dog" 2>/dev/null
  rm -rf "$T"
  if [ -n "$t" ] && [ -e "$t" ]; then rm -f -- "$t"; fi
  gt=
  while [ "$np" -gt 0 ]; do eval "gt=\$pt$np"; [ ! -e "$gt" ] || rm -f -- "$gt"; np=$((np - 1)); done
}
trap gone EXIT
trap 'gone; trap - EXIT; exit 129' HUP
trap 'gone; trap - EXIT; exit 130' INT
trap 'gone; trap - EXIT; exit 141' PIPE
trap 'gone; trap - EXIT; exit 143' TERM
hidden=
failed=0

# need TOOL...: every tool this program runs is there, or it says which are missing
# (`@@NEED TOOL...`) and stops before changing anything
need() {
  nm=
  for x in "$@"; do command -v "$x" >/dev/null 2>&1 || nm="$nm $x"; done
  [ -z "$nm" ] || { echo "@@NEED$nm"; exit 96; }
}
# sums PATH...: every path's sha256, read once for all resources (errors kept: a path
# that exists but has no sum is reported by its resource)
sums() { sha256sum -- "$@" > "$T/sums" 2> "$T/sums.err"; }
# stats SIZE PATH...: every path's mode, owner, group and size (of what a symbolic link
# points to), read once for all resources, and before anything is read or changed,
# that the program's own file (its first line) is SIZE bytes: the whole of stdin arrived
stats() {
  z=$1; shift
  stat -L -c '%a %U %G %s %n' -- "$T/program" "$@" > "$T/stats" 2> "$T/stats.err"
  sz=; read -r _ _ _ sz _ < "$T/stats" || :
  [ "${sz:-0}" -eq "$z" ] || { echo '@@STAGE short'; exit 98; }
}
: > "$T/sums"; : > "$T/stats"; : > "$T/sums.err"; : > "$T/stats.err"
# snap (defined by each program, which calls it first): `stats` and `sums` of every path
# the program reads, called again after a step that may have made or removed files other
# resources manage
# sum_of PATH: $got = PATH's sha256 when the program started ('' when it did not exist)
sum_of() { got=; while read -r h n; do if [ "$n" = "$1" ]; then got=$h; return 0; fi; done < "$T/sums"; }
# stat_of PATH: $got = "MODE OWNER GROUP" and $size, when the program started ('' if none)
stat_of() {
  got=; size=0
  while read -r a u g z n; do if [ "$n" = "$1" ]; then got="$a $u $g"; size=$z; return 0; fi; done < "$T/stats"
}
# unread I PATH TOOL: resource I failed: PATH exists, but TOOL could not read it
unread() {
  { printf '%s could not read %s' "$3" "$2"
    if [ "$3" = sha256sum ]; then e=$T/sums.err; else e=$T/stats.err; fi
    if grep -F -- "$2" "$e" > "$T/u$1" 2>/dev/null; then printf ': '; cat "$T/u$1"; else echo; fi
  } > "$T/e$1"
  fail "$1" 1 "$T/e$1"
}
# meta_is "MODE OWNER GROUP" MODE OWNER GROUP: whether read metadata is as wanted; an
# empty wanted value matches anything, empty metadata matches nothing
meta_is() {
  [ -n "$1" ] || return 1
  ma=${1%% *}; mr=${1#* }; mo=${mr%% *}; mg=${mr#* }
  { [ -z "$2" ] || [ "$ma" = "$2" ]; } && { [ -z "$3" ] || [ "$mo" = "$3" ]; } && { [ -z "$4" ] || [ "$mg" = "$4" ]; }
}
# old I PATH SIZE [SHA256]: send a file's current content for a diff (when not too large)
# and its digest and size, whatever its size; of a sensitive resource (listed in
# $hidden), only that its content differs
old() {
  case "$hidden" in *" $1 "*) echo "@@C $1"; return 0 ;; esac
  [ -z "${4:-}" ] || echo "@@S $1 $4 $3"
  if [ -f "$2" ] && [ "$3" -le 1048576 ]; then
    printf '@@O %s ' "$1"; base64 -w0 < "$2"; echo
  fi
}
# leftovers PATH: removes the temp files that earlier runs cut off (a dropped
# connection, a killed device) left beside PATH; spawns nothing when there are none
leftovers() {
  d=${1%/*}; [ -n "$d" ] || d=/; b=${1##*/}
  for x in "$d/.$b.deskready-"*; do if [ -e "$x" ] || [ -L "$x" ]; then rm -f -- "$x"; fi; done
}
# tmpname PATH: $t = a temp file beside PATH, for an atomic rename
tmpname() {
  d=${1%/*}; [ -n "$d" ] || d=/; b=${1##*/}
  t="$d/.$b.deskready-$$"
}
# fail I RC ERRFILE: resource I failed with exit code RC; ERRFILE's tail says why
fail() { echo "@@R $1 failed $2"; printf '@@E %s ' "$1"; tail -n 20 "$3" | base64 -w0; echo; failed=1; }
# note I TEXT: resource I's message (what it would do or did), sent whether or not it fails
note() { printf '@@E %s ' "$1"; printf '%s' "$2" | base64 -w0; echo; }
# done_with I RC: resource I changed when RC is 0, else failed with its stderr
done_with() { if [ "$2" = 0 ]; then echo "@@R $1 changed"; else fail "$1" "$2" "$T/e$1"; fi; }
# step KIND I ARG...: resource I of KIND, or skipped once an earlier one failed
step() { if [ "$failed" = 1 ]; then echo "@@R $2 skipped"; else "$@"; fi; }
# profile COMMAND: runs a command of the profile (a command, a guard, a check) in a
# subshell, with shell syntax as written and without this program's shell options
profile() { (set +u; eval "$1"); }
# check J COMMAND: verify check J, once every resource is done and none failed
check() {
  [ "$failed" = 0 ] || return 0
  profile "$2" </dev/null >"$T/v$1" 2>&1; rc=$?
  if [ "$rc" = 0 ]; then echo "@@V $1 pass"; else
    echo "@@V $1 fail $rc"; printf '@@VE %s ' "$1"; tail -n 20 "$T/v$1" | base64 -w0; echo
  fi
}

# Files written but not yet in place ($np of them): their temp files are made durable
# together.
# pend I TEMP PATH: resource I's new content is in TEMP, to be renamed over PATH
pend() { np=$((np + 1)); eval "pi$np=\$1; pt$np=\$2; pp$np=\$3"; }
# commit: every pending temp file synced in ONE `sync`, renamed over its target, then
# the targets' directories synced once: atomic and durable, with two syncs in all
commit() {
  [ "$np" -gt 0 ] || return 0
  set --; k=1
  while [ "$k" -le "$np" ]; do eval "set -- \"\$@\" \"\$pt$k\""; k=$((k + 1)); done
  sync -- "$@" 2> "$T/sync"; sr=$?
  set --; k=1
  while [ "$k" -le "$np" ]; do
    eval "ci=\$pi$k; ct=\$pt$k; cp=\$pp$k"
    # shellcheck disable=SC2154 # ci, ct, cp: set by the eval above
    if [ "$sr" = 0 ] && mv -f -- "$ct" "$cp" 2> "$T/e$ci"; then
      echo "@@R $ci changed"; cd=${cp%/*}; set -- "$@" "${cd:-/}"
    else
      rm -f -- "$ct"; [ "$sr" = 0 ] || cat "$T/sync" > "$T/e$ci"; fail "$ci" 1 "$T/e$ci"
    fi
    k=$((k + 1))
  done
  np=0
  [ $# = 0 ] || sync -- "$@" 2>/dev/null || :
}
