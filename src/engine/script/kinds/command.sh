# shellcheck shell=sh
# shellcheck disable=SC2154 # fix, failed, got, size, t: set by the preamble and its helpers
# command_res I COMMAND [creates PATH] [unless GUARD]: runs COMMAND unless PATH exists
# or GUARD succeeds (without either, it always runs). Commands and guards run with
# `profile`: shell syntax as written, without this program's shell options.
command_res() {
  i=$1; cmd=$2; shift 2; done=1
  while [ $# -ge 2 ]; do
    case $1 in
      creates) [ "$done" = 0 ] || { [ -e "$2" ] && done=0; } ;;
      unless) [ "$done" = 0 ] || { profile "$2" </dev/null >/dev/null 2>&1 && done=0; } ;;
    esac
    shift 2
  done
  if [ "$done" = 0 ]; then echo "@@R $i ok"; return 0; fi
  if [ "$fix" != 1 ]; then echo "@@R $i drift"; return 0; fi
  # its stderr into a file, not a pipe: a daemon it starts may keep stderr open
  # shellcheck disable=SC2034 # ran: read by the line kind
  ran=1
  efile "$i"; profile "$cmd" </dev/null >/dev/null 2>"$ef"; done_with "$i" $?
}
