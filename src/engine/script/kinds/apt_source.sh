# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, size, t: set by the preamble and its helpers
# apt sources the maker's way: /etc/apt/sources.list.d/NAME.sources (deb822) whose
# Signed-By is /etc/apt/keyrings/NAME.gpg, the maker's key in binary form. The key is
# checked (its fingerprint, when one is pinned) before anything is changed. A source that
# changed leaves a mark in $AD/changed, so the next install refreshes the index (see
# package.sh); the mark is written before the change, so a cut run leaves it too.
AD=/var/lib/deskready/apt

# apt_mark NAME: the index must be refreshed for source NAME
apt_mark() { mkdir -p "$AD/changed" && : > "$AD/changed/$1"; }
# key_dearmor IN OUT: OUT = the key in IN in binary form (IN's base64 body when it is
# ASCII-armored, without its headers and checksum line; else IN as it is)
key_dearmor() {
  if grep -q -e '^-----BEGIN PGP PUBLIC KEY BLOCK-----' "$1"; then
    tr -d '\r' < "$1" | sed -n -e '/^-----BEGIN PGP PUBLIC KEY BLOCK-----/,/^-----END PGP/{' -e '/^-----/d' -e p -e '}' |
      sed -e '0,/^[[:space:]]*$/d' -e '/^=/d' | base64 -d > "$2"
  else
    cat -- "$1" > "$2"
  fi
}
# key_byte N: prints byte N (0-255)
key_byte() {
  # shellcheck disable=SC2059 # the format is the escape of one byte, made here
  printf "\\$(printf '%03o' "$1")"
}
# key_fpr FILE: $got = the fingerprint (upper-case hex) of the first key in FILE, an
# OpenPGP keyring in binary form; '' when FILE does not start with a v4, v5 or v6 public
# key (RFC 4880 and 9580: SHA-1 of 0x99, a 2-byte length and the key packet's body for v4;
# SHA-256 of 0x9a/0x9b, a 4-byte length and the body for v5/v6)
key_fpr() {
  got=
  # shellcheck disable=SC2046 # the bytes are numbers, split on purpose
  set -- "$1" $(od -An -tu1 -N6 -- "$1" 2>/dev/null)
  [ $# -ge 4 ] || return 0
  f=$1; b=$2
  if [ $((b & 64)) != 0 ]; then
    tag=$((b & 63))
    if [ "$3" -lt 192 ]; then len=$3; h=2
    elif [ "$3" -lt 224 ]; then len=$(( ($3 - 192) * 256 + $4 + 192 )); h=3
    elif [ "$3" = 255 ] && [ $# -ge 7 ]; then len=$(( ($4 << 24) | ($5 << 16) | ($6 << 8) | $7 )); h=6
    else return 0; fi
  else
    tag=$(( (b >> 2) & 15 ))
    case $((b & 3)) in
      0) len=$3; h=2 ;;
      1) len=$(( $3 * 256 + $4 )); h=3 ;;
      2) [ $# -ge 6 ] || return 0; len=$(( ($3 << 24) | ($4 << 16) | ($5 << 8) | $6 )); h=5 ;;
      *) return 0 ;;
    esac
  fi
  [ "$tag" = 6 ] || return 0
  v=$(od -An -tu1 -j "$h" -N1 -- "$f" | tr -d ' ')
  case $v in
    4) got=$({ key_byte 153; key_byte $((len >> 8)); key_byte $((len & 255))
               tail -c +$((h + 1)) -- "$f" | head -c "$len"; } | sha1sum) ;;
    5|6) got=$({ key_byte $((150 + v)); key_byte $((len >> 24)); key_byte $(((len >> 16) & 255))
                 key_byte $(((len >> 8) & 255)); key_byte $((len & 255))
                 tail -c +$((h + 1)) -- "$f" | head -c "$len"; } | sha256sum) ;;
    *) return 0 ;;
  esac
  got=$(printf '%s' "${got%% *}" | tr 'a-f' 'A-F')
}
# apt_put SRC PATH: SRC's content becomes PATH's (mode 644), atomically and durably
apt_put() {
  mkdir -p -- "${2%/*}" && tmpname "$2" && cat -- "$1" > "$t" && chmod 644 "$t" &&
    sync -- "$t" && mv -f -- "$t" "$2" && t=
}
# apt_source_res I NAME STATE TEXT SHA256 KEYMODE KEY FPR: source NAME present (its deb822
# TEXT, whose sha256 is SHA256, and its key: KEYMODE text with KEY the key itself, or url
# with KEY where the device downloads it) or absent (STATE); FPR the key's pinned
# fingerprint ('' for none)
apt_source_res() {
  i=$1; n=$2; want=$3; text=$4; sum=$5; km=$6; key=$7; fpr=$8
  src=/etc/apt/sources.list.d/$n.sources; kr=/etc/apt/keyrings/$n.gpg
  if [ "$want" = absent ]; then
    if [ ! -e "$src" ] && [ ! -e "$kr" ]; then echo "@@R $i ok"; return 0; fi
    if [ "$fix" != 1 ]; then note "$i" "would remove apt source $n and its key"; echo "@@R $i drift"; return 0; fi
    rm -f -- "$src" "$kr" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
    note "$i" "removed apt source $n and its key"; echo "@@R $i changed"; return 0
  fi
  # What is there: the source's text, and the key's bytes (text) or fingerprint (url).
  todo=
  got=
  if [ -f "$src" ]; then got=$(sha256sum -- "$src"); got=${got%% *}; fi
  if [ "$got" != "$sum" ]; then
    todo="source"
    if [ -f "$src" ]; then size=$(stat -c %s -- "$src"); old "$i" "$src" "$size"; fi
  fi
  if [ "$km" = text ]; then
    printf '%s\n' "$key" > "$T/a$i"
    key_dearmor "$T/a$i" "$T/k$i" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
    cmp -s -- "$T/k$i" "$kr" || todo="$todo key"
  else
    got=
    [ ! -f "$kr" ] || key_fpr "$kr"
    [ "$got" = "$fpr" ] || todo="$todo key"
  fi
  if [ -z "$todo" ]; then echo "@@R $i ok"; return 0; fi
  case $todo in *key*) words="the key" ;; *) words= ;; esac
  case $todo in *source*) words="${words:+$words and }the source" ;; esac
  if [ "$fix" != 1 ]; then
    if [ "$km" = url ]; then case $todo in *key*) words="$words (the key from $key)" ;; esac; fi
    note "$i" "would write $words of apt source $n"; echo "@@R $i drift"; return 0
  fi
  # The key, fetched and checked before anything changes.
  case $todo in *key*)
    if [ "$km" = url ]; then
      /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$key" "$T/a$i" \
        </dev/null >/dev/null 2>"$T/e$i" || {
        printf 'could not download the key of apt source %s from %s\n' "$n" "$key" >> "$T/e$i"
        fail "$i" 1 "$T/e$i"; return 0; }
      key_dearmor "$T/a$i" "$T/k$i" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
    fi
    if [ -n "$fpr" ]; then
      key_fpr "$T/k$i"
      if [ "$got" != "$fpr" ]; then
        if [ -n "$got" ]; then what="a key with fingerprint $got"; else what="no OpenPGP public key"; fi
        printf 'the key of apt source %s is %s, not the pinned %s; nothing was changed\n' "$n" "$what" "$fpr" > "$T/e$i"
        fail "$i" 1 "$T/e$i"; return 0
      fi
    fi ;;
  esac
  apt_mark "$n" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; }
  case $todo in *key*) apt_put "$T/k$i" "$kr" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; } ;; esac
  case $todo in *source*)
    printf '%s' "$text" > "$T/s$i"
    apt_put "$T/s$i" "$src" 2>"$T/e$i" || { fail "$i" 1 "$T/e$i"; return 0; } ;;
  esac
  note "$i" "wrote $words of apt source $n"
  echo "@@R $i changed"
}
