# shellcheck shell=bash
# secrets.sh: the short-lived artifact-store URLs a script needs (they carry a signature that lets
# their holder read or write one object, the new member's key bundle among them) reach the script on
# stdin as NAME=value lines, never as arguments: any process on the host can read another's arguments
# (ps), and SSM keeps a command's text in its history. The runners write them there (the sandbox on the
# script's stdin; SSM sealed to a one-time key of the host's, see functions/adapters/aws/secretSeal.ts).
#
#   secrets_read NAME...   reads NAME=value lines from stdin and sets each NAME given that is present
#                          (others are ignored); stdin is /dev/null afterwards. A terminal on stdin
#                          (a script run by hand) gives none.
#   curl_url URL ARGS...   curl ARGS on URL without URL in curl's arguments: curl reads it from a
#                          config on its stdin (-K -), so ARGS must not read stdin too.

secrets_read() {
  local line key wanted
  if [[ ! -t 0 ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      key=${line%%=*}
      for wanted in "$@"; do
        if [[ $key == "$wanted" && $line == *=* ]]; then printf -v "$wanted" '%s' "${line#*=}"; fi
      done
    done
  fi
  exec </dev/null
}

curl_url() {
  local url=$1
  shift
  [[ $url =~ ^https?://[^[:space:]\"\\]+$ ]] || { echo "bad artifact-store URL" >&2; return 2; }
  printf 'url = "%s"\n' "$url" | curl -K - "$@"
}
