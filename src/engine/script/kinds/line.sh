# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# line_res I PATH LINE: PATH holds LINE. A copy (keeping mode and owner) gets its last
# line ended and LINE added, then is synced and renamed over PATH.
line_res() {
  i=$1; p=$2; l=$3
  if grep -qxF -e "$l" -- "$p" 2>/dev/null; then echo "@@R $i ok"; return 0; fi
  stat_of "$p"; old "$i" "$p" "$size"
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  tmpname "$p"
  # shellcheck disable=SC1003 # sed's `$a\` (end the last line), not a shell escape
  if { { [ ! -e "$p" ] || cp -p -- "$p" "$t"; } &&
       { [ ! -s "$t" ] || sed -i -e '$a\' "$t"; } &&
       printf '%s\n' "$l" >> "$t" && sync "$t" && mv -f "$t" "$p"; } 2>"$T/e$i"; then
    echo "@@R $i changed"
  else
    rm -f "$t"; fail "$i" 1 "$T/e$i"
  fi
}
