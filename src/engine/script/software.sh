# shellcheck shell=sh
# shellcheck disable=SC2154 # T: set by the preamble
# Software on a Debian device, outside any resource: what is installed (dpkg's list and
# where apt has each version from), how old the package index is, what apt would upgrade
# (a simulation, which changes nothing), the index refreshed only when asked, and an
# upgrade run non-interactively that leaves dpkg healthy. Every text that comes back is
# base64 on a line of its own:
#   @@SWP TAG B64   dpkg-query's list (status, name, architecture, version per line)
#   @@SWA TAG B64   `apt list --installed` (where apt has each installed version from)
#   @@SWI NEWEST NOW  the index's newest refresh and the device's clock (epoch seconds; 0: none)
#   @@SWU ok | @@SWU failed B64   `apt-get update` when asked
#   @@SWS B64       apt-get's simulated dist-upgrade (its `Inst` lines)
#   @@SWF B64       the simulation failed (a broken source, say): the end of what apt said
#   @@SWH WHEN healed|broken|busy B64   what `dpkg --audit` found, and whether `dpkg --configure -a`
#                   mended it (busy: another process holds dpkg's lock; nothing was tried)
#   @@SWR RC B64    the upgrade's exit code and the end of what apt said
#   @@SWN TOOL      an audit's read: the device has no TOOL (dpkg-query: nothing was read;
#                   apt-get: the packages were, the upgrades waiting were not)
SW_OPTS='-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold'

# sw_list TAG APT: the installed packages as dpkg has them; with APT 1, where apt has them from
sw_list() {
  printf '@@SWP %s ' "$1"
  # shellcheck disable=SC2016 # ${...}: dpkg-query's fields, not the shell's
  dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\n' 2>/dev/null | base64 -w0
  echo
  if [ "$2" = 1 ] && command -v apt >/dev/null 2>&1; then
    printf '@@SWA %s ' "$1"
    apt list --installed 2>/dev/null | base64 -w0
    echo
  fi
}

# sw_index: when the package index was last refreshed (0 when there is none)
sw_index() {
  newest=0
  for f in /var/lib/apt/lists/*_Packages*; do
    [ -e "$f" ] || continue
    for g in /var/lib/apt/lists/partial /var/lib/apt/periodic/update-success-stamp \
      /var/lib/deskready/apt/updated /var/lib/apt/lists/*_InRelease /var/lib/apt/lists/*_Release; do
      [ -e "$g" ] || continue
      m=$(stat -c %Y -- "$g" 2>/dev/null) || continue
      [ "$m" -le "$newest" ] || newest=$m
    done
    break
  done
  echo "@@SWI $newest $(date +%s)"
}

# sw_refresh: refreshes the package index (remembered as deskready's own refresh)
sw_refresh() {
  # A source apt could not fetch is only a warning to apt-get (exit 0): a failure here.
  if apt-get update -q </dev/null >"$T/upd" 2>&1 &&
    ! grep -Eq '^(W|E): (Failed to fetch|Some index files failed)' "$T/upd"; then
    mkdir -p /var/lib/deskready/apt && : > /var/lib/deskready/apt/updated
    echo '@@SWU ok'
  else
    printf '@@SWU failed '; tail -n 20 "$T/upd" | base64 -w0; echo
  fi
}

# sw_pending: what a dist-upgrade would do, simulated (no lock taken, nothing changed)
sw_pending() {
  if apt-get -s -q -o Debug::NoLocking=1 dist-upgrade </dev/null >"$T/sim" 2>&1; then
    printf '@@SWS '; base64 -w0 <"$T/sim"; echo
  else
    printf '@@SWF '; tail -n 20 "$T/sim" | base64 -w0; echo
  fi
}

# sw_heal WHEN: when `dpkg --audit` finds packages left half-done, `dpkg --configure -a`
# finishes them; says what it found and whether dpkg is healthy now
sw_heal() {
  a=$(dpkg --audit 2>&1) || :
  [ -n "$a" ] || return 0
  case $a in
    # Another dpkg is at work (its lock is held): what it is doing is not mended under it.
    *'locked the database'*)
      printf '@@SWH %s busy ' "$1"; printf '%s\n' "$a" | base64 -w0; echo
      return 0 ;;
  esac
  if DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold --configure -a </dev/null >"$T/heal" 2>&1 &&
    [ -z "$(dpkg --audit 2>&1)" ]; then
    printf '@@SWH %s healed ' "$1"
  else
    printf '@@SWH %s broken ' "$1"
  fi
  printf '%s\n' "$a" | base64 -w0; echo
}

# sw_upgrade MODE [PACKAGE...]: upgrades non-interactively (local configuration kept):
# MODE all (a dist-upgrade), security (the packages whose candidate comes from a security
# archive), only (the PACKAGEs named, when installed); the lists before and after
sw_upgrade() {
  mode=$1; shift
  sw_heal before
  sw_list before 0
  case $mode in
    all) set -- dist-upgrade ;;
    security)
      # The candidate's archive, as apt says it: `Inst NAME [OLD] (NEW LABEL:ARCHIVE [ARCH])`.
      if ! apt-get -s -q -o Debug::NoLocking=1 dist-upgrade </dev/null >"$T/sim" 2>&1; then
        # apt cannot say what it would upgrade (a broken source): not "nothing to do".
        printf '@@SWR 100 '; tail -n 20 "$T/sim" | base64 -w0; echo
        sw_list after 0
        return 0
      fi
      sec=$(awk '/^Inst / { s = $0; sub(/^[^(]*\(/, "", s); if (tolower(s) ~ /security/) print $2 }' "$T/sim")
      set -f
      # shellcheck disable=SC2086 # one package name per word (names as apt prints them)
      set -- install --only-upgrade $sec
      set +f
      if [ -z "$sec" ]; then echo '@@SWR 0 '; sw_list after 0; return 0; fi
      ;;
    only) set -- install --only-upgrade "$@" ;;
  esac
  rc=0
  # shellcheck disable=SC2086 # SW_OPTS: several words on purpose
  DEBIAN_FRONTEND=noninteractive apt-get -y -q $SW_OPTS "$@" </dev/null >"$T/up" 2>&1 || rc=$?
  [ "$rc" = 0 ] || sw_heal after
  printf '@@SWR %s ' "$rc"; tail -n 20 "$T/up" | base64 -w0; echo
  sw_list after 0
}

# sw_audit: what an audit reads of the software, from the index as it is (never
# refreshed) and never failing the audit: the installed packages and where apt has them
# from, the index's age and what apt would upgrade; a device without dpkg-query or
# apt-get says so (`@@SWN`) instead of stopping the program
sw_audit() {
  if ! command -v dpkg-query >/dev/null 2>&1; then echo '@@SWN dpkg-query'; return 0; fi
  sw_list now 1
  if ! command -v apt-get >/dev/null 2>&1; then echo '@@SWN apt-get'; return 0; fi
  tdir
  sw_index
  sw_pending
}
