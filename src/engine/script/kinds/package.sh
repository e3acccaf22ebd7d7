# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# package_res I PACKAGE: a Debian package installed with apt-get.
package_res() {
  i=$1
  # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not the shell's
  if dpkg-query -W -f='${Status}' -- "$2" 2>/dev/null | grep -q 'ok installed'; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -- "$2" </dev/null >/dev/null 2>"$T/e$i"; done_with "$i" $?
}
