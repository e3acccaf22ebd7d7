# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# user_res I USER USERADD-OPTION...: a local user, created with a home and these
# `useradd` options when missing.
user_res() {
  i=$1; u=$2; shift 2
  if id -u "$u" >/dev/null 2>&1; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  useradd --create-home "$@" -- "$u" </dev/null >/dev/null 2>"$T/e$i"; done_with "$i" $?
}
