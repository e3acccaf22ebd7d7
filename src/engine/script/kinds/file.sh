# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# file_res I PATH SHA256 MODE OWNER GROUP: a file with the content staged in $T/fI (its
# sha256 given) and, when not empty, this octal mode, owner and group. Content is
# replaced atomically: a temp file beside PATH made by `install` (mode and owner set),
# synced, renamed. Metadata the profile leaves open is kept from the file replaced.
file_res() {
  i=$1; p=$2; mode=$4; owner=$5; group=$6
  sum_of "$p"; if [ "$got" = "$3" ]; then c=0; else c=1; fi
  stat_of "$p"; m=$got; md=0
  if [ -n "$m" ] && ! meta_is "$m" "$mode" "$owner" "$group"; then md=1; fi
  if [ $c = 0 ] && [ $md = 0 ]; then echo "@@R $i ok"; return 0; fi
  [ -n "$m" ] && echo "@@M $i $m"
  [ $c = 1 ] && old "$i" "$p" "$size"
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  if [ -n "$m" ]; then cm=${m%% *}; r=${m#* }; co=${r%% *}; cg=${r#* }; else cm=644; co=; cg=; fi
  [ -z "$mode" ] || cm=$mode
  [ -z "$owner" ] || co=$owner
  [ -z "$group" ] || cg=$group
  if [ $c = 1 ]; then
    tmpname "$p"
    { install -m "$cm" ${co:+-o "$co"} ${cg:+-g "$cg"} -- "$T/f$i" "$t" && sync "$t" && mv -f "$t" "$p"; } 2>"$T/e$i" \
      || { rm -f "$t"; fail "$i" 1 "$T/e$i"; }
  else
    { { [ -z "$mode" ] || chmod "$mode" "$p"; } &&
      if [ -n "$owner" ] && [ -n "$group" ]; then chown "$owner:$group" "$p"
      elif [ -n "$owner" ]; then chown "$owner" "$p"
      elif [ -n "$group" ]; then chgrp "$group" "$p"
      fi; } 2>"$T/e$i" || fail "$i" 1 "$T/e$i"
  fi
  [ "$failed" = 1 ] || echo "@@R $i changed"
}
