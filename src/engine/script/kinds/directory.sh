# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# dir_res I PATH MODE OWNER GROUP: a directory with, when not empty, this octal mode,
# owner and group (`mkdir -p` or `install -d` creates it and its parents, or
# `install -d` sets them).
dir_res() {
  i=$1; p=$2; mode=$3; owner=$4; group=$5
  stat_of "$p"; m=$got; dd=1
  if [ -d "$p" ] && meta_is "$m" "$mode" "$owner" "$group"; then dd=0; fi
  if [ "$dd" = 0 ]; then echo "@@R $i ok"; return 0; fi
  [ -n "$m" ] && echo "@@M $i $m"
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  # A directory that is not there and is root's is made by `mkdir` (which loads no ACL
  # libraries, unlike `install`); any other by `install -d`, which also sets an existing
  # one's mode and owner. (Its errors are read from a second try, only when it fails.)
  # The mode is given with five digits or more: GNU mkdir and install keep a directory's
  # set-user-ID and set-group-ID bits (inherited from a set-group-ID parent) unless the
  # mode names them, and `stat` would then show a mode the profile does not want, run
  # after run.
  if [ ! -e "$p" ] && [ ! -L "$p" ] && [ -z "$owner" ] && [ -z "$group" ]; then
    set -- mkdir -p ${mode:+-m "00$mode"}
  else
    set -- install -d ${mode:+-m "00$mode"} ${owner:+-o "$owner"} ${group:+-g "$group"}
  fi
  if "$@" -- "$p" 2>/dev/null || e=$("$@" -- "$p" 2>&1); then
    echo "@@R $i changed"
  else
    failt "$i" 1 "$e"
  fi
}
# dir_absent I PATH: no directory at PATH: one there is removed with everything in it;
# anything else there (a file, a symbolic link) is refused, and so is / itself
dir_absent() {
  i=$1; p=$2
  if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo "@@R $i ok"; return 0; fi
  if [ -L "$p" ] || [ ! -d "$p" ] || [ "$p" = / ]; then
    failt "$i" 1 "$p is not a directory deskready removes (a file, a link, or /)"; return 0
  fi
  if [ "$fix" != 1 ]; then note "$i" "would remove directory $p and everything in it"; echo "@@R $i drift"; return 0; fi
  if e=$(rm -rf -- "$p" 2>&1); then
    note "$i" "removed directory $p and everything in it"; echo "@@R $i changed"
  else
    failt "$i" 1 "$e"
  fi
}
