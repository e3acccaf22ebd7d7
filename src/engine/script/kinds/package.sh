# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed: set by the preamble
# Debian packages the maker's way: from the package index (at a pinned version, or any),
# or from a .deb downloaded and checked against its sha256; debconf answers given first;
# removed or purged. The index is refreshed (`apt-get update`) only before an install, and
# only when a source changed (marks in $PD/changed, left by apt_source.sh; then only those
# sources are read), when it is older than the resource allows, or when it does not know
# the wanted version. What a package resource would do or did travels as its message.
PD=/var/lib/deskready/apt
PK_OPTS='-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold'

# pk_now NAME: $pst = installed|config (removed, its configuration kept)|absent|broken, and
# $pver its version
pk_now() {
  pst=absent; pver=
  # shellcheck disable=SC2016 # ${...}: dpkg-query's fields, not the shell's
  s=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$1" 2>/dev/null) || return 0
  pver=${s#*|}
  case $s in ii*|hi*) pst=installed ;; rc*) pst=config; pver= ;; un*|pn*) pst=absent; pver= ;; *) pst=broken ;; esac
}
# pk_update I [SOURCE]: apt-get update of SOURCE (a source that changed), strictly: any
# problem reading it fails (apt would otherwise go on with its old index and only warn, e.g.
# of a key that does not sign the repository); without SOURCE, of the whole index, as apt
# does it (a source it cannot read keeps its old index, with a warning), and remembered
pk_update() {
  if [ -n "${2:-}" ]; then
    apt-get update -q --error-on=any -o Dir::Etc::SourceList="/etc/apt/sources.list.d/$2.sources" \
      -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 </dev/null >/dev/null 2>>"$T/u$1" || return 1
  else
    apt-get update -q </dev/null >/dev/null 2>>"$T/u$1" || return 1
    mkdir -p "$PD" && : > "$PD/updated"
  fi
}
# pk_fresh I NAME VERSION MAXAGE: the index knows what to install: the sources that changed
# are read (each alone); then all of it when older than MAXAGE seconds, or when it does not
# know NAME at VERSION (NAME '' for a .deb, which the index need not know)
pk_fresh() {
  : > "$T/u$1"
  for c in "$PD"/changed/*; do
    [ -e "$c" ] || continue
    if [ -f "/etc/apt/sources.list.d/${c##*/}.sources" ]; then pk_update "$1" "${c##*/}" || return 1; fi
    rm -f -- "$c"
  done
  st=$(stat -c %Y "$PD/updated" 2>/dev/null) || st=0
  now=$(date +%s)
  if [ $((now - st)) -ge "$4" ]; then pk_update "$1"; return; fi
  [ -n "$2" ] || return 0
  if [ -n "$3" ]; then w="$2=$3"; else w=$2; fi
  apt-cache show -- "$w" >/dev/null 2>&1 || pk_update "$1"
}
# pk_fail I TEXT: resource I failed; TEXT, then what apt said (update, then install)
pk_fail() {
  { printf '%s\n' "$2"; cat "$T/u$1" "$T/o$1" 2>/dev/null; } > "$T/e$1"
  fail "$1" 1 "$T/e$1"
}
# package_res I NAME STATE VERSION DEB SHA256 PURGE MAXAGE PRESEED: package NAME installed
# (STATE present: at VERSION, '' for any; from the .deb at URL DEB with sha256 SHA256, ''
# for the index; the debconf answers PRESEED, lines, given first; the index refreshed when
# older than MAXAGE seconds) or removed (STATE absent; PURGE 1: its configuration too)
package_res() {
  i=$1; p=$2; want=$3; v=$4; deb=$5; sum=$6; purge=$7; age=$8; pre=$9
  pk_now "$p"
  if [ "$want" = absent ]; then
    case $pst in absent) echo "@@R $i ok"; return 0 ;; config) [ "$purge" = 1 ] || { echo "@@R $i ok"; return 0; } ;; esac
    if [ "$purge" = 1 ]; then verb=purge; did=purged; else verb=remove; did=removed; fi
    if [ "$fix" != 1 ]; then note "$i" "would $verb $p${pver:+ $pver}"; echo "@@R $i drift"; return 0; fi
    DEBIAN_FRONTEND=noninteractive apt-get "$verb" -y -q -- "$p" </dev/null >"$T/o$i" 2>&1 ||
      { : > "$T/u$i"; pk_fail "$i" "apt-get $verb $p failed"; return 0; }
    rm -f -- "$PD/debs/$p"
    snap
    note "$i" "$did $p${pver:+ $pver}"; echo "@@R $i changed"; return 0
  fi
  if [ "$pst" = installed ]; then
    if [ -n "$v" ]; then
      if [ "$pver" = "$v" ]; then echo "@@R $i ok"; return 0; fi
    elif [ -n "$deb" ]; then
      m=; [ ! -f "$PD/debs/$p" ] || read -r m < "$PD/debs/$p" || :
      if [ "$m" = "$sum" ]; then echo "@@R $i ok"; return 0; fi
    else
      echo "@@R $i ok"; return 0
    fi
  fi
  # What would change, in words.
  to="$p${v:+ $v}"; [ -z "$deb" ] || to="$to from $deb"
  words="install $to"; did="installed $to"
  if [ "$pst" = installed ] && [ -n "$v" ]; then
    if dpkg --compare-versions "$pver" lt "$v"; then words="upgrade $p $pver to $v"; did="upgraded $p $pver to $v"
    else words="downgrade $p $pver to $v"; did="downgraded $p $pver to $v"; fi
    [ -z "$deb" ] || { words="$words from $deb"; did="$did from $deb"; }
  elif [ "$pst" = installed ]; then
    words="reinstall $to (another .deb than the one installed)"; did="reinstalled $to"
  fi
  if [ "$fix" != 1 ]; then note "$i" "would $words"; echo "@@R $i drift"; return 0; fi
  : > "$T/o$i"
  # A .deb: downloaded, checked against its sha256 and its name and version, before
  # anything changes.
  if [ -n "$deb" ]; then
    : > "$T/u$i"
    /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$deb" "$T/d$i.deb" "SHA256:$sum" \
      </dev/null >"$T/o$i" 2>&1 ||
      { pk_fail "$i" "could not download $deb with sha256 $sum (a checksum that does not match is refused); nothing was changed"; return 0; }
    dn=$(dpkg-deb -f "$T/d$i.deb" Package 2>>"$T/o$i"); dv=$(dpkg-deb -f "$T/d$i.deb" Version 2>>"$T/o$i")
    if [ "$dn" != "$p" ] || { [ -n "$v" ] && [ "$dv" != "$v" ]; }; then
      pk_fail "$i" "$deb holds $dn $dv, not $p${v:+ $v}; nothing was changed"; return 0
    fi
  fi
  if [ -n "$deb" ]; then pk_fresh "$i" '' '' "$age"; else pk_fresh "$i" "$p" "$v" "$age"; fi ||
    { pk_fail "$i" "apt-get update failed"; return 0; }
  if [ -n "$pre" ]; then
    command -v debconf-set-selections >/dev/null 2>&1 || { pk_fail "$i" "debconf-set-selections is not installed (package debconf): cannot preseed $p"; return 0; }
    printf '%s\n' "$pre" > "$T/p$i"
    debconf-set-selections "$T/p$i" >>"$T/o$i" 2>&1 || { pk_fail "$i" "debconf-set-selections refused the preseed answers of $p"; return 0; }
  fi
  if [ -n "$deb" ]; then w="$T/d$i.deb"; elif [ -n "$v" ]; then w="$p=$v"; else w=$p; fi
  # shellcheck disable=SC2086 # PK_OPTS: options, split on purpose
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades $PK_OPTS -- "$w" \
    </dev/null >>"$T/o$i" 2>&1 || { pk_fail "$i" "apt-get install $p${v:+=$v} failed"; return 0; }
  pk_now "$p"
  if [ "$pst" != installed ] || { [ -n "$v" ] && [ "$pver" != "$v" ]; }; then
    pk_fail "$i" "$p is $pst${pver:+ at $pver} after apt-get install"; return 0
  fi
  if [ -n "$deb" ]; then mkdir -p "$PD/debs" && printf '%s\n' "$sum" > "$PD/debs/$p"; else rm -f -- "$PD/debs/$p"; fi
  # Its files may be ones later resources manage: their digests are read again.
  snap
  note "$i" "$did"
  echo "@@R $i changed"
}
