# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, T: set by the preamble
# Local accounts with Debian's own tools: getent and id to look, useradd, usermod and
# userdel to change. What a user resource would do or did travels as its message.

# user_is USER: $u_comment, $u_home, $u_shell and $u_groups (supplementary, one space
# before and after each) of USER; fails when there is no such user
user_is() {
  pw=$(getent passwd "$1") || return 1
  u_shell=${pw##*:}; r=${pw%:*}; u_home=${r##*:}; r=${r%:*}; u_comment=${r##*:}
  prim=$(id -gn "$1" 2>/dev/null); u_groups=' '
  for g in $(id -nG "$1" 2>/dev/null); do [ "$g" = "$prim" ] || u_groups="$u_groups$g "; done
}
# user_res I USER HAS_COMMENT COMMENT SHELL HOME GROUPS EXACT: a local user (created with a
# home when missing) whose comment (when HAS_COMMENT is 1), shell and home (when not
# empty) are these, and who is in the supplementary GROUPS (comma separated): in them
# and others too when EXACT is false, in exactly them when it is true.
user_res() {
  i=$1; u=$2; hc=$3; c=$4; sh=$5; hm=$6; gs=$7; ex=$8
  if ! user_is "$u"; then
    d=; [ "$hc" != 1 ] || d="$d, comment '$c'"
    [ -z "$sh" ] || d="$d, shell $sh"; [ -z "$hm" ] || d="$d, home $hm"
    [ -z "$gs" ] || d="$d, groups $(printf '%s' "$gs" | sed 's/,/, /g')"
    d=${d#, }
    if [ "$fix" != 1 ]; then note "$i" "would create user $u${d:+ ($d)}"; echo "@@R $i drift"; return 0; fi
    user_can "$sh" "$gs" || { fail "$i" 1 "$T/e$i"; return 0; }
    set --
    [ "$hc" != 1 ] || set -- "$@" --comment "$c"
    [ -z "$sh" ] || set -- "$@" --shell "$sh"
    [ -z "$hm" ] || set -- "$@" --home-dir "$hm"
    [ -z "$gs" ] || set -- "$@" --groups "$gs"
    if useradd --create-home "$@" -- "$u" </dev/null >/dev/null 2>"$T/e$i"; then
      note "$i" "created user $u${d:+ ($d)}"; echo "@@R $i changed"
    else fail "$i" $? "$T/e$i"; fi
    return 0
  fi
  d=; set --
  if [ "$hc" = 1 ] && [ "$c" != "$u_comment" ]; then d="$d, comment '$u_comment' -> '$c'"; set -- "$@" --comment "$c"; fi
  if [ -n "$sh" ] && [ "$sh" != "$u_shell" ]; then d="$d, shell $u_shell -> $sh"; set -- "$@" --shell "$sh"; else sh=; fi
  if [ -n "$hm" ] && [ "$hm" != "$u_home" ]; then d="$d, home $u_home -> $hm (moved)"; set -- "$@" --home "$hm" --move-home; fi
  add=; del=
  for g in $(printf '%s' "$gs" | tr ',' ' '); do case $u_groups in *" $g "*) ;; *) add="$add, $g" ;; esac; done
  if [ "$ex" = true ]; then
    for g in $u_groups; do case ",$gs," in *",$g,"*) ;; *) del="$del, $g" ;; esac; done
  fi
  [ -z "$add" ] || d="$d, add to groups ${add#, }"
  [ -z "$del" ] || d="$d, remove from groups ${del#, }"
  if [ -n "$del" ]; then set -- "$@" --groups "$gs"
  elif [ -n "$add" ]; then set -- "$@" --append --groups "$(printf '%s' "${add#, }" | sed 's/, /,/g')"; fi
  if [ -z "$d" ]; then echo "@@R $i ok"; return 0; fi
  d=${d#, }
  if [ "$fix" != 1 ]; then note "$i" "would change user $u: $d"; echo "@@R $i drift"; return 0; fi
  user_can "$sh" "$(printf '%s' "${add#, }" | sed 's/, /,/g')" || { fail "$i" 1 "$T/e$i"; return 0; }
  if usermod "$@" -- "$u" </dev/null >/dev/null 2>"$T/e$i"; then
    note "$i" "changed user $u: $d"; echo "@@R $i changed"
  else fail "$i" $? "$T/e$i"; fi
}
# user_can SHELL GROUPS: whether SHELL ('' for none) is an executable file and every group
# of GROUPS (comma separated) exists, before an account is changed; else says which not
user_can() {
  : > "$T/e$i"
  if [ -n "$1" ] && { [ ! -f "$1" ] || [ ! -x "$1" ]; }; then
    printf 'the shell %s is not installed on this device (no such executable file)\n' "$1" >> "$T/e$i"
  fi
  miss=
  for g in $(printf '%s' "$2" | tr ',' ' '); do getent group "$g" >/dev/null || miss="$miss, $g"; done
  [ -z "$miss" ] || printf 'no such group on this device: %s (create it first, e.g. with a package or a command resource)\n' "${miss#, }" >> "$T/e$i"
  [ ! -s "$T/e$i" ]
}
# user_absent I USER REMOVE_HOME: no user USER; with REMOVE_HOME true, its home directory
# and mail spool go too (userdel --remove)
user_absent() {
  i=$1; u=$2; rh=$3
  if ! user_is "$u"; then echo "@@R $i ok"; return 0; fi
  d="user $u"; [ "$rh" != true ] || d="user $u and its home $u_home"
  if [ "$fix" != 1 ]; then note "$i" "would remove $d"; echo "@@R $i drift"; return 0; fi
  if [ "$rh" = true ]; then set -- --remove; else set --; fi
  if userdel "$@" -- "$u" </dev/null >/dev/null 2>"$T/e$i"; then
    note "$i" "removed $d"; echo "@@R $i changed"
  else fail "$i" $? "$T/e$i"; fi
}
