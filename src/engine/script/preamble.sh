# shellcheck shell=sh
# shellcheck disable=SC2034,SC2317 # got, size, t: read by the kinds' helpers; helpers only some programs call
# The start of every program deskready runs on a device: its temp directory, the
# protocol's helpers, and the steps every resource kind shares. Sourced text, not run
# on its own: the program sets `fix` (1 to change things, 0 to only look) and `hidden`
# (the resources whose content is sensitive, as " I J ") after it, and checks that it
# was sent whole.
#
# The bootstrap (see `Dialect::bootstrap_within`) either runs the program straight from
# the channel's stdin (a program sent with no data, whose shell leads its process group:
# the program is one compound command, parsed whole before any of it runs, so a program
# cut short runs nothing), or read the channel's whole stdin ONCE into "$1/program", a
# regular file in the program's private directory $1 (mode 0700, holding its pid): this
# program, then the staged contents, then a seal (`@@DATA` and their sha256). The program
# then runs from that file, and the kinds carve each content out of it by its distance
# from the end: no tool ever reads stdin, so shells and tools that read ahead on a pipe
# (busybox) work.
#
# Without a directory from the bootstrap ($1 empty or absent), the program makes its
# private directory $T only when something needs it (`tdir`): a run that finds nothing to
# change, or changes only what the shell and the tools' own output can carry, leaves no
# trace in the device's temp directory.
set -u
umask 022
export LC_ALL=C
T=; prog=
if [ $# -ge 1 ] && [ -n "$1" ]; then T=$1; prog=$T/program; fi
# tdir: $T exists (made now, in this shell, when it does not yet)
tdir() {
  [ -z "$T" ] || return 0
  T=$(mktemp -d "${TMPDIR:-/tmp}/deskready.XXXXXXXX") || { T=; echo '@@FATAL mktemp'; exit 97; }
  echo $$ > "$T/pid"
}
# efile I: $ef = the file for resource I's error output: in the program's directory when
# it has one; else $R/PID.I, in a directory of root's only on the tmpfs /run (`rdir`),
# when it can be written there (a byte, which the command's redirection then truncates:
# a read-only /run takes no file, and a command whose error output cannot be opened
# would not run at all; a full one takes an empty file but none of its output); else in
# the program's directory, made now. (`echo`, not `:`: a special builtin's failed
# redirection ends dash and busybox sh.)
ru=; rok=
efile() {
  ef=$R/$$.$1
  if [ -n "$T" ] || ! rdir || ! { echo > "$ef"; } 2>/dev/null; then tdir; ef=$T/e$1; else ru=1; fi
}
# rdir: $R can take this program's files: it and its parent (deskready's run directory,
# which also holds print servers' locks) are directories of root's, not links (under /run,
# where only root makes names); or neither is there, and one `mkdir` (once per boot) has
# just made them, root's only
rdir() {
  if [ -z "$rok" ]; then
    rok=0
    if [ -L "$R" ] || [ -L "${R%/*}" ]; then :
    elif [ -d "$R" ]; then if [ -O "$R" ] && [ -O "${R%/*}" ]; then rok=1; fi
    elif [ ! -e "$R" ]; then
      umask 077
      # shellcheck disable=SC2174 # -m for the deepest only: the umask makes the parent 700
      if mkdir -p -m 700 -- "$R" 2>/dev/null && [ -d "$R" ] && [ ! -L "$R" ] && [ -O "$R" ]; then rok=1; fi
      umask 022
    fi
  fi
  [ "$rok" = 1 ]
}
# rdone: this program's files in $R emptied, not removed (that would take a process):
# they are at most a few bytes' names left on a tmpfs until the next boot, and once $R
# holds more than 64 files, the program that first sees it removes those of every
# program that has ended, in one `rm` ($R/prune, which holds its pid, says one is at it;
# left by one killed outright, it counts no longer once that pid is no deskready
# program's: see `ours`)
rdone() {
  for x in "$R/$$".*; do [ ! -f "$x" ] || [ -L "$x" ] || true > "$x"; done
  set -- "$R"/[0-9]*
  [ $# -gt 64 ] || return 0
  set -C; if { echo $$ > "$R/prune"; } 2>/dev/null; then x=0; else x=1; fi; set +C
  if [ "$x" != 0 ]; then
    xp=; read -r xp < "$R/prune" 2>/dev/null || :
    case $xp in '' | *[!0-9]*) ;; *) ! ours "$xp" || return 0 ;; esac
  fi
  set -- "$R/prune"
  for x in "$R"/[0-9]*.[0-9]*; do
    xp=${x##*/}; xp=${xp%%.*}
    case $xp in '' | *[!0-9]*) continue ;; esac
    if [ "$xp" = $$ ] || ! ours "$xp"; then set -- "$@" "$x"; fi
  done
  rm -f -- "$@" 2>/dev/null
}
# nl: a newline, for splitting the tools' output into lines
nl='
'
# ours PID: PID is a deskready program running now, other than this one (files and
# directories named after this program's pid when it starts are an earlier program's):
# its command line is a bootstrap's (which names the temp directory's template)
ours() {
  [ "$1" != $$ ] && alive "$1" || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  xc=; read -r xc < "/proc/$1/cmdline" 2>/dev/null
  case $xc in *"/deskready.XXXXXXXX"*) return 0 ;; esac
  return 1
}
# A program killed outright (SIGKILL: no trap runs) leaves its directory behind; the
# next program on the device removes those whose program is gone, or whose pid is no
# deskready program's now (`ours`; only directories of root's, not links).
for d in "${TMPDIR:-/tmp}"/deskready.*; do
  if [ "$d" != "$T" ] && [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] && [ -f "$d/pid" ]; then
    xp=; read -r xp < "$d/pid" || :
    case $xp in '' | *[!0-9]*) continue ;; esac
    ours "$xp" || rm -rf -- "$d"
  fi
done
# What such a program left in $R (its commands' error output, which may be secret) is
# emptied the same way (shell builtins only: no process), unless its pid is a running
# deskready program's (`ours`): once the pid has been given to another process, the file
# is no one's. Only files of numbered names, regular and not links, in a directory of
# root's that is not a link, are touched; one that cannot be emptied (a read-only /run)
# is left.
if [ -d "$R" ] && [ ! -L "$R" ] && [ -O "$R" ]; then
  for x in "$R"/[0-9]*.[0-9]*; do
    xp=${x##*/}; xp=${xp%%.*}
    case $xp in '' | *[!0-9]*) continue ;; esac
    if [ -s "$x" ] && [ -f "$x" ] && [ ! -L "$x" ] && ! ours "$xp"; then { true > "$x"; } 2>/dev/null; fi
  done
fi
# $T holds staged contents, some of them secret: it goes however the program ends (its
# end, a signal, or its connection gone: the next write to it raises SIGPIPE), and so
# do the temp files beside targets that a cut write leaves.
t=; np=0
gone() {
  [ -z "$wd_dog" ] || kill "$wd_dog" 2>/dev/null
  [ -z "$T" ] || rm -rf -- "$T"
  if [ -n "$t" ] && [ -e "$t" ]; then rm -f -- "$t"; fi
  gt=
  while [ "$np" -gt 0 ]; do eval "gt=\$pt$np"; [ ! -e "$gt" ] || rm -f -- "$gt"; np=$((np - 1)); done
  [ -z "$ru" ] || rdone
}
trap gone EXIT
trap 'gone; trap - EXIT; exit 129' HUP
trap 'gone; trap - EXIT; exit 130' INT
trap 'gone; trap - EXIT; exit 141' PIPE
trap 'gone; trap - EXIT; exit 143' TERM
hidden=
failed=0
# What may have changed since the snapshot (`snap`): `touched`, the paths this program
# wrote or removed (one a line, between newlines); `ran`, 1 once a profile command ran
# (it may have changed anything); `wild`, 1 when the program has steps that may change
# any file and are not followed by a new snapshot (services, users, print queues...)
touched=$nl; ran=0; wild=0

# need TOOL...: every tool this program runs is there, or it says which are missing
# (`@@NEED TOOL...`) and stops before changing anything
need() {
  nm=
  # (one redirection for all: each costs the shell some eight system calls)
  { for x in "$@"; do command -v "$x" || nm="$nm $x"; done; } >/dev/null 2>&1
  [ -z "$nm" ] || { echo "@@NEED$nm"; exit 96; }
}
# sums PATH...: every path's sha256, read once for all resources into $sv (lines of
# sha256sum's output and its errors: a path that exists but has no sum is reported by its
# resource); paths that do not exist are not read (no sha256sum at all when none does)
sums() {
  for qx in "$@"; do shift; if [ -e "$qx" ] || [ -L "$qx" ]; then set -- "$@" "$qx"; fi; done
  sv=
  [ $# = 0 ] || sv=$(sha256sum -- "$@" 2>&1)
}
# stats SIZE PATH...: every path's mode, owner, group and size (of what a symbolic link
# points to), read once for all resources into $st (lines of stat's output and its
# errors), and before anything is read or changed, when the program runs from its file,
# that the file is SIZE bytes: the whole of stdin arrived
stats() {
  z=$1; shift
  for qx in "$@"; do shift; if [ -e "$qx" ] || [ -L "$qx" ]; then set -- "$@" "$qx"; fi; done
  st=
  [ $# = 0 ] && [ -z "$prog" ] || st=$(stat -L -c '%a %U %G %s %n' -- ${prog:+"$prog"} "$@" 2>&1)
  [ -z "$prog" ] || { stat_of "$prog"; [ "${size:-0}" -eq "$z" ] || { echo '@@STAGE short'; exit 98; }; }
}
sv=; st=
# fresh: 1 while the snapshot holds (it was read, and no command ran since)
fresh=0
# seen: the snapshot was just read (the end of each `snap`): it holds, and shows what this
# program wrote and what commands did so far
seen() { fresh=1; ran=0; touched=$nl; }
# first PATH...: the snapshot read now (`snap`), unless none of PATH (what the resources
# before the first command read) is there and the program runs from stdin: then nothing
# is read yet (every PATH is missing, as the empty snapshot says), and the resources
# after a command read theirs when they come (`look`)
first() {
  if [ -z "$prog" ]; then
    for qx in "$@"; do if [ -e "$qx" ] || [ -L "$qx" ]; then snap; return 0; fi; done
    return 0
  fi
  snap
}
# look SNAP: before the resources after a command: SNAP (the snapshot of their paths) is
# read when the snapshot no longer holds (not read yet, or a command ran since)
look() { if [ "$fresh" = 0 ] || [ "$ran" = 1 ]; then "$1"; fi; }
# snap (defined by each program, which calls it first, through `first`): `stats` and
# `sums` of every path the program reads, called again after a step that may have made or
# removed files other resources manage; snapK (K > 0): the same for the paths of the
# resources after the Kth command
# sum_of PATH: $got = PATH's sha256 when the program started ('' when it did not exist)
sum_of() {
  got=; set -f; qoi=$IFS; IFS=$nl
  for ql in $sv; do
    qh=${ql%% *}
    case $qh in sha256sum:* | '') continue ;; esac
    if [ "${ql#*  }" = "$1" ]; then got=$qh; break; fi
  done
  IFS=$qoi; set +f
}
# stat_of PATH: $got = "MODE OWNER GROUP" and $size, when the program started ('' if none)
stat_of() {
  got=; size=0; set -f; qoi=$IFS; IFS=$nl
  for ql in $st; do
    qa=${ql%% *}
    case $qa in *[!0-7]* | '') continue ;; esac
    qr=${ql#* }; qu=${qr%% *}; qr=${qr#* }; qg=${qr%% *}; qr=${qr#* }
    if [ "${qr#* }" = "$1" ]; then got="$qa $qu $qg"; size=${qr%% *}; break; fi
  done
  IFS=$qoi; set +f
}
# unread I PATH TOOL: resource I failed: PATH exists, but TOOL could not read it
unread() {
  if [ "$3" = sha256sum ]; then qe=$sv; else qe=$st; fi
  qm=; set -f; qoi=$IFS; IFS=$nl
  for ql in $qe; do case $ql in "$3:"*"$2"*) qm="$qm$ql$nl" ;; esac; done
  IFS=$qoi; set +f
  if [ -n "$qm" ]; then failt "$1" 1 "$3 could not read $2: $qm"; else failt "$1" 1 "$3 could not read $2"; fi
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
# failt I RC TEXT: resource I failed with exit code RC; TEXT's tail says why
failt() { echo "@@R $1 failed $2"; printf '@@E %s ' "$1"; tail20 "$3"; echo; failed=1; }
# tail20 TEXT: the last 20 lines of TEXT, base64 (nothing for no text)
tail20() { [ -z "$1" ] || printf '%s\n' "$1" | tail -n 20 | base64 -w0; }
# note I TEXT: resource I's message (what it would do or did), sent whether or not it fails
note() { printf '@@E %s ' "$1"; printf '%s' "$2" | base64 -w0; echo; }
# done_with I RC: resource I changed when RC is 0, else failed with its stderr (in $ef,
# see `efile`)
done_with() { if [ "$2" = 0 ]; then echo "@@R $1 changed"; else fail "$1" "$2" "$ef"; fi; }
# done_witht I RC TEXT: resource I changed when RC is 0, else failed with TEXT (its stderr)
done_witht() { if [ "$2" = 0 ]; then echo "@@R $1 changed"; else failt "$1" "$2" "$3"; fi; }
# step KIND I ARG...: resource I of KIND, or skipped once an earlier one failed
step() { if [ "$failed" = 1 ]; then echo "@@R $2 skipped"; else "$@"; fi; }
# profile COMMAND: runs a command of the profile (a command, a guard, a check) in a
# subshell, with shell syntax as written and without this program's shell options
profile() { (set +u; eval "$1"); }
# check J COMMAND: verify check J, once every resource is done and none failed
check() {
  [ "$failed" = 0 ] || return 0
  # (`profile`, inlined: the command substitution is the subshell)
  o=$(set +u; eval "$2" </dev/null 2>&1); rc=$?
  if [ "$rc" = 0 ]; then echo "@@V $1 pass"; else
    echo "@@V $1 fail $rc"; printf '@@VE %s ' "$1"; tail20 "$o"; echo
  fi
}

# Files written but not yet in place ($np of them): their temp files are made durable
# together.
# pend I TEMP PATH: resource I's new content is in TEMP, to be renamed over PATH
pend() { np=$((np + 1)); eval "pi$np=\$1; pt$np=\$2; pp$np=\$3"; }
# Directories in which this program renamed files and that are not synced yet ($nd of
# them): each is synced once, with the next `sync` the program runs anyway (`dsync`), and
# by `settle` before the program says it is done at the latest: every rename is durable
# by then, at the cost of one `sync` for all of them.
nd=0
# later DIR: DIR's entries changed; it is synced before the program ends
later() {
  dk=1
  while [ "$dk" -le "$nd" ]; do eval "[ \"\$pd$dk\" != \"\$1\" ]" || return 0; dk=$((dk + 1)); done
  nd=$((nd + 1)); eval "pd$nd=\$1"
}
# dsync FILE...: the FILEs and every directory left to sync, in one `sync`
dsync() {
  dk=1
  while [ "$dk" -le "$nd" ]; do eval "set -- \"\$@\" \"\$pd$dk\""; dk=$((dk + 1)); done
  [ $# = 0 ] || sync -- "$@" || return
  nd=0
}
# settle: the directories left to sync, synced (the renames are made whatever it says)
settle() { [ "$nd" = 0 ] || dsync 2>/dev/null || :; }
# commit: every pending temp file synced in ONE `sync` (with the directories earlier
# renames left to sync), then renamed over its target; the targets' directories are
# synced later (`later`): atomic and durable
commit() {
  [ "$np" -gt 0 ] || return 0
  set --; k=1
  while [ "$k" -le "$np" ]; do eval "set -- \"\$@\" \"\$pt$k\""; k=$((k + 1)); done
  # Errors are read (a command substitution, a fork) only from a second try when one
  # fails, of the files alone: a sync or a rename tried again fails again the same way,
  # and a directory that went meanwhile is not the files' fault.
  sr=0; dsync "$@" 2>/dev/null || { se=$(sync -- "$@" 2>&1); sr=$?; }
  k=1
  while [ "$k" -le "$np" ]; do
    eval "ci=\$pi$k; ct=\$pt$k; cp=\$pp$k"
    # shellcheck disable=SC2154 # ci, ct, cp: set by the eval above
    if [ "$sr" = 0 ] && { mv -f -- "$ct" "$cp" 2>/dev/null || me=$(mv -f -- "$ct" "$cp" 2>&1); }; then
      echo "@@R $ci changed"; touched=$touched$cp$nl; cd=${cp%/*}; later "${cd:-/}"
    else
      rm -f -- "$ct"; [ "$sr" = 0 ] || me=$se; failt "$ci" 1 "$me"
    fi
    k=$((k + 1))
  done
  np=0
}
