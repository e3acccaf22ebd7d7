# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# test_page QUEUE TAG: prints a page through QUEUE (on $cs's cupsd when set) and waits up
# to 60 s for the job to complete; says `@@TP ok ID`, `@@TP timeout ID` or `@@TP failed WHY`.
test_page() {
  q=$1
  out=$(printf 'deskready test page\nprinter %s\nqueue %s\n' "$2" "$q" | cups lp -d "$q" -t 'deskready test page' 2>&1) || { echo "@@TP failed $out"; return 0; }
  id=$(printf '%s' "$out" | sed -n 's/^request id is \([^ ]*\).*/\1/p')
  n=0
  while [ "$n" -lt 120 ]; do
    if cups lpstat -W completed -o "$q" 2>/dev/null | grep -q "^$id "; then echo "@@TP ok $id"; return 0; fi
    sleep 0.5; n=$((n+1))
  done
  echo "@@TP timeout $id"
}
