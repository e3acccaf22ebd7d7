# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t, prog: set by the preamble and its helpers
# file_res I PATH SHA256 MODE OWNER GROUP FROM_END LENGTH [CONTENT]: a file whose content
# (its sha256 given) is the LENGTH bytes that start FROM_END bytes before the end of what
# the program was sent, or CONTENT itself when FROM_END is `-` (small text, written by
# the shell's own printf: no process), and, when not
# empty, with this octal mode, owner and group. Metadata the profile leaves open is kept
# from the file replaced.
#
# New content goes into a temp file beside the target (mode and owner set there) and is
# left pending: `commit`, after a run of file resources, syncs every pending temp file at
# once and renames each over its target. A target that is a symbolic link owned by root is
# written through (the file it points to is compared and replaced, the link stays); a link
# owned by anyone else is refused. Temp files that cut-off runs left beside the target (and
# beside the file a link points to) are removed whenever the program fixes, changed or not.
file_res() {
  i=$1; p=$2; mode=$4; owner=$5; group=$6
  [ "$fix" != 1 ] || leftovers "$p"
  sum_of "$p"; h=$got
  stat_of "$p"; m=$got
  if [ -e "$p" ]; then
    [ -n "$h" ] || { unread "$i" "$p" sha256sum; return 0; }
    [ -n "$m" ] || { unread "$i" "$p" stat; return 0; }
  fi
  w=$p
  if [ -L "$p" ]; then
    lo=$(stat -c %U -- "$p" 2>&1)
    if [ "$lo" != root ]; then
      failt "$i" 1 "$p is a symbolic link owned by $lo, not root: deskready does not write through it"; return 0
    fi
    if ! w=$(readlink -f -- "$p" 2>&1) || [ -z "$w" ]; then failt "$i" 1 "$w"; return 0; fi
    # (the temp files of cut-off writes through it are beside the file it points to)
    [ "$fix" != 1 ] || leftovers "$w"
  fi
  if [ "$h" = "$3" ]; then c=0; else c=1; fi
  md=0
  if [ -n "$m" ] && ! meta_is "$m" "$mode" "$owner" "$group"; then md=1; fi
  if [ "$c" = 0 ] && [ "$md" = 0 ]; then echo "@@R $i ok"; return 0; fi
  [ -n "$m" ] && echo "@@M $i $m"
  if [ "$c" = 1 ] && [ -n "$h" ]; then old "$i" "$p" "$size" "$h"; fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  if [ -n "$m" ]; then cm=${m%% *}; r=${m#* }; co=${r%% *}; cg=${r#* }; else cm=644; co=; cg=; fi
  [ -z "$mode" ] || cm=$mode
  [ -z "$owner" ] || co=$owner
  [ -z "$group" ] || cg=$group
  if [ "$c" = 1 ]; then
    tmpname "$w"
    # New files are root's, with the mode a umask gives (no chmod for modes without
    # execute or special bits); chown only for other owners.
    case $cm in
      [0246][0246][0246]) u=; r=$cm
        while [ -n "$r" ]; do u=$u$((7 - ${r%"${r#?}"})); r=${r#?}; done
        umask "$u"; xm= ;;
      *) xm=$cm ;;
    esac
    # A write that fails is tried once more in a command substitution, for its errors
    # (no file for them, and no fork when it works).
    if file_write "$7" "$8" "$xm" "${co:-root}:${cg:-root}" "${9:-}" 2>/dev/null; then
      umask 022; pend "$i" "$t" "$w"
    else
      e=$(file_write "$7" "$8" "$xm" "${co:-root}:${cg:-root}" "${9:-}" 2>&1)
      umask 022; rm -f -- "$t"
      failt "$i" 1 "could not write $p: ${e:-write error}"
    fi
  else
    if e=$( { { [ -z "$mode" ] || chmod -- "$mode" "$w"; } &&
      if [ -n "$owner" ] && [ -n "$group" ]; then chown -- "$owner:$group" "$w"
      elif [ -n "$owner" ]; then chown -- "$owner" "$w"
      elif [ -n "$group" ]; then chgrp -- "$group" "$w"
      fi; } 2>&1); then echo "@@R $i changed"; else failt "$i" 1 "$e"; fi
  fi
}
# file_write FROM_END LENGTH XMODE OWNER:GROUP CONTENT: the new content into $t (CONTENT
# itself when FROM_END is `-`), then its mode (when XMODE is not empty: the umask gave
# it otherwise) and owner (when not root's)
file_write() {
  if [ "$1" = - ]; then printf '%s' "$5" > "$t"; else tail -c "$1" -- "$prog" | head -c "$2" > "$t"; fi &&
    { [ -z "$3" ] || chmod "$3" "$t"; } &&
    { [ "$4" = root:root ] || chown "$4" "$t"; }
}
# file_absent I PATH: nothing at PATH (a file or a symbolic link is removed, then its
# directory synced); a directory there is refused: it is not a file to remove
file_absent() {
  i=$1; p=$2
  if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo "@@R $i ok"; return 0; fi
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    failt "$i" 1 "$p is a directory, not a file: a file resource does not remove it (a directory resource does)"; return 0
  fi
  if [ "$fix" != 1 ]; then note "$i" "would remove $p"; echo "@@R $i drift"; return 0; fi
  d=${p%/*}; [ -n "$d" ] || d=/
  if e=$( { rm -f -- "$p" && sync -- "$d"; } 2>&1); then
    touched=$touched$p$nl; note "$i" "removed $p"; echo "@@R $i changed"
  else
    failt "$i" 1 "$e"
  fi
}
