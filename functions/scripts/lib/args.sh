# shellcheck shell=bash
# args.sh: the argument checks the host scripts share; inlined like the other lib files
# (functions/adapters/scriptText.ts). A check that fails prints its message on stderr and exits 2
# (bad arguments, lib/exitCodes.sh): nothing has run yet.
#
#   check_hostname VALUE          a lower-case DNS name ("bad hostname")
#   check_ipv4 VALUE              a dotted IPv4 address ("bad ip")
#   check_run_id VALUE            a run ID ("bad run id")
#   check_url VALUE MESSAGE       an http(s) URL, as read from stdin (lib/secrets.sh); MESSAGE otherwise
#   check_path VALUE WHAT         an absolute path of letters, digits and ._/- without `..` ("bad WHAT: VALUE")
#   is_ipv4 VALUE                 the IPv4 test alone, for a script that gives a failure its own meaning

readonly ARGS_HOSTNAME_RE='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'
readonly ARGS_IPV4_RE='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
readonly ARGS_RUN_ID_RE='^[a-z0-9][a-z0-9-]{5,79}$'
readonly ARGS_URL_RE='^https?://'

bad_argument() {
  echo "$1" >&2
  exit 2
}

is_ipv4() { [[ $1 =~ $ARGS_IPV4_RE ]]; }
check_hostname() { [[ $1 =~ $ARGS_HOSTNAME_RE ]] || bad_argument "bad hostname"; }
check_ipv4() { is_ipv4 "$1" || bad_argument "bad ip"; }
check_run_id() { [[ $1 =~ $ARGS_RUN_ID_RE ]] || bad_argument "bad run id"; }
check_url() { [[ $1 =~ $ARGS_URL_RE ]] || bad_argument "$2"; }
check_path() { [[ $1 =~ ^/[A-Za-z0-9._/-]+$ && $1 != *..* ]] || bad_argument "bad $2: $1"; }
