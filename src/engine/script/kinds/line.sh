# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# line_in PATH LINE: li=1 when PATH has a line equal to LINE, else 0; le=1 when PATH is
# missing, empty or ends with a newline, 0 when its last line is not ended, '' when not
# known. A small file (its size read by the program's one `stat`) is read by the shell
# itself, so a line already there costs no process; a large one by grep. lc: the small
# file's content as read, lk=1 when that is all of it, byte for byte (no NUL in it).
line_in() {
  li=0; le=1; lc=; lk=1
  stat_of "$1"
  [ -n "$got" ] || return 0
  lk=0
  if [ "$size" -gt 16384 ]; then
    le=; if grep -qxF -e "$2" -- "$1" 2>/dev/null; then li=1; fi; return 0
  fi
  x=
  # `read` fails at the end; a last line without its newline is read all the same
  while IFS= read -r x || { [ -n "$x" ] && le=0; }; do
    [ "$x" != "$2" ] || li=1
    if [ "$le" = 1 ]; then lc=$lc$x$nl; else lc=$lc$x; fi
    x=
  done < "$1"
  [ "${#lc}" != "$size" ] || lk=1
}
# old_text I PATH SIZE: `old` for a file the shell read whole into $lc ($lk=1, by
# `line_in`): printable text (tabs too, no CR) is sent as it is, one `@@OL` per line
# (`@@OP` for a last line with no newline), sealed by its size (`@@OT`), with no
# process; anything else through `old`
old_text() {
  case "$hidden" in *" $1 "*) echo "@@C $1"; return 0 ;; esac
  if [ "$lk" != 1 ] || [ ! -f "$2" ]; then old "$1" "$2" "$3"; return 0; fi
  # shellcheck disable=SC2101 # the classes and the newline are one bracket expression
  case $lc in *[![:print:][:blank:]"$nl"]*) old "$1" "$2" "$3"; return 0 ;; esac
  ol=$lc
  while [ -n "$ol" ]; do
    case $ol in
      *"$nl"*) printf '@@OL %s %s\n' "$1" "${ol%%"$nl"*}"; ol=${ol#*"$nl"} ;;
      *) printf '@@OP %s %s\n' "$1" "$ol"; ol= ;;
    esac
  done
  echo "@@OT $1 $3"
}
# line_to I PATH: $w = the file that holds PATH's lines: PATH itself, or the file it
# points to when it is a symbolic link owned by root (written through, as a file
# resource's: the link stays); resource I fails for a link owned by anyone else
# (following it would let that user choose what root overwrites). Called only when the
# file is to be written: in a fix, it also removes the temp files that cut-off runs left
# beside the file pointed to.
line_to() {
  w=$2
  [ -L "$2" ] || return 0
  lo=$(stat -c %U -- "$2" 2>&1)
  if [ "$lo" != root ]; then
    failt "$1" 1 "$2 is a symbolic link owned by $lo, not root: deskready does not write through it"; return 1
  fi
  if ! w=$(readlink -f -- "$2" 2>&1) || [ -z "$w" ]; then failt "$1" 1 "$w"; return 1; fi
  [ "$fix" != 1 ] || leftovers "$w"
}
# line_res I PATH LINE: PATH holds LINE (in the file it points to, see `line_to`). A copy
# (keeping mode and owner) gets its last line ended and LINE added, then is synced and
# renamed over that file (its directory synced before the program ends, see `later`). A
# small file of root's with mode 0644 (or none, then or now) is written by the shell from
# what it read, when nothing may have changed it since the snapshot (no command ran since
# it was read, this program did not write it, no step that may change any file came
# before); any other is copied with `cp -p`. Temp files that cut-off runs left beside
# PATH are removed whenever the program fixes.
line_res() {
  i=$1; p=$2; l=$3
  [ "$fix" != 1 ] || leftovers "$p"
  line_in "$p" "$l"
  if [ "$li" = 1 ]; then echo "@@R $i ok"; return 0; fi
  line_to "$i" "$p" || return 0
  stat_of "$p"; old_text "$i" "$p" "$size"
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  tmpname "$w"
  if [ "$lk" = 1 ] && [ "$ran" = 0 ] && [ "$wild" = 0 ] && { [ "$got" = "644 root root" ] || { [ -z "$got" ] && [ ! -e "$p" ]; }; } &&
    case $touched in *"$nl$p$nl"*) false ;; *) true ;; esac; then
    [ "$le" = 1 ] || [ -z "$lc" ] || lc=$lc$nl
    # (its errors read from a second try, only when it fails)
    { printf '%s%s\n' "$lc" "$l" > "$t" && dsync "$t" && mv -f -- "$t" "$w"; } 2>/dev/null ||
      e=$( { printf '%s%s\n' "$lc" "$l" > "$t" && sync -- "$t" && mv -f -- "$t" "$w"; } 2>&1 )
  else
    # $(...) drops a trailing newline: a last byte that is not one needs one added.
    e=$( { { [ ! -e "$p" ] || cp -p -- "$p" "$t"; } &&
       { [ "$le" = 1 ] || [ ! -s "$t" ] || { [ -z "$le" ] && [ -z "$(tail -c 1 -- "$t")" ]; } || echo >> "$t"; } &&
       printf '%s\n' "$l" >> "$t" && sync -- "$t" && mv -f -- "$t" "$w"; } 2>&1 )
  fi
  # shellcheck disable=SC2181 # the status of the assignment's command substitution
  if [ $? = 0 ]; then
    touched=$touched$p$nl$w$nl; echo "@@R $i changed"; d=${w%/*}; later "${d:-/}"
  else
    rm -f "$t"; failt "$i" 1 "$e"
  fi
}
# line_absent I PATH LINE: PATH holds no line equal to LINE (in the file it points to, see
# `line_to`). A copy (keeping mode and owner) gets every other line, then is synced and
# renamed over it.
line_absent() {
  i=$1; p=$2; l=$3
  [ "$fix" != 1 ] || leftovers "$p"
  line_in "$p" "$l"
  if [ "$li" = 0 ]; then echo "@@R $i ok"; return 0; fi
  line_to "$i" "$p" || return 0
  stat_of "$p"; old_text "$i" "$p" "$size"
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  tmpname "$w"
  # grep says 1 when no line is left: the file becomes empty.
  if e=$( { cp -p -- "$p" "$t" && { grep -vxF -e "$l" -- "$p" > "$t"; [ $? -le 1 ]; } &&
       sync -- "$t" && mv -f -- "$t" "$w"; } 2>&1 ); then
    touched=$touched$p$nl$w$nl; echo "@@R $i changed"; d=${w%/*}; later "${d:-/}"
  else
    rm -f "$t"; failt "$i" 1 "$e"
  fi
}
