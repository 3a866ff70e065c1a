# shellcheck shell=bash
# etcdEndpoints.sh: the edit of an etcd client URL list made on the host itself, in the host command that
# writes it (lib/hostFile.sh host_file_edit), instead of a read, an edit in the workflow and a write.
# Inlined like the other lib files (functions/adapters/scriptText.ts), after lib/hostFile.sh. The rule is the workflow's
# (functions/cluster/liveEndpoints.ts liveEndpointList): keep the existing entries whose host is a live
# member, in their order; drop the others; append the live members missing (https://HOST:2379); drop
# repeats. The file edit is functions/config/flanneld.ts's, byte for byte (test/unit/flanneldHostEdit.test.ts
# runs both over the same files). A file in a form this edit does not know (a byte outside printable
# ASCII, tab, CR before LF; an entry that is no plain https://HOST:PORT; the key absent) is declined with
# exit 3 (refused: nothing changed) and the reason on stderr: the workflow then reads the file and edits
# it itself, as it always did.
#
#   flanneld_endpoints_edit FILE LIVE_HOSTNAMES
#       Prints FILE with FLANNEL_ETCD_ENDPOINTS (every active line of it, each keeping its indentation and
#       quotes) naming the live members (LIVE_HOSTNAMES: comma-separated; the script checks them first).

# The awk half of the rule, shared by the edits: valid hostnames and IPv4 addresses as functions/validate.ts
# has them, the host of a URL, the list. POSIX awk (mawk, and gawk on RHEL 7), run under LC_ALL=C.
readonly ETCD_ENDPOINTS_AWK='
function decline(why) { print why > "/dev/stderr"; exit 3 }
function valid_hostname(h,   n, i, parts) {
  if (length(h) > 253 || h !~ /^[a-z0-9.-]+$/) return 0
  n = split(h, parts, ".")
  for (i = 1; i <= n; i++) {
    if (parts[i] == "" || length(parts[i]) > 63) return 0
    if (parts[i] !~ /^[a-z0-9]$/ && parts[i] !~ /^[a-z0-9][a-z0-9-]*[a-z0-9]$/) return 0
  }
  return parts[n] !~ /^[0-9]+$/
}
function valid_ipv4(h,   n, i, parts) {
  n = split(h, parts, ".")
  if (n != 4) return 0
  for (i = 1; i <= 4; i++) if (parts[i] !~ /^(0|[1-9][0-9]?[0-9]?)$/ || parts[i] + 0 > 255) return 0
  return 1
}
# The host of https://HOST:PORT, or "" for anything else (a trailing slash included: the workflow edits
# such a list itself).
function url_host(u,   rest, c, host, port) {
  if (substr(u, 1, 8) != "https://") return ""
  rest = substr(u, 9)
  c = index(rest, ":")
  if (c < 2) return ""
  host = substr(rest, 1, c - 1)
  port = substr(rest, c + 1)
  if (port !~ /^[1-9][0-9]*$/ || length(port) > 5 || port + 0 > 65535) return ""
  if (host ~ /^[0-9.]+$/) return valid_ipv4(host) ? host : ""
  return valid_hostname(host) ? host : ""
}
function keep(u) { if (!(u in listed)) { listed[u] = 1; out[++nout] = u } }
# cur[1..ncur] (the list as it is) and the live hostnames (-v live=a,b) give out[1..nout].
function live_list(   nlive, i, h, livehost, isLive, keptHost) {
  nlive = split(live, livehost, ",")
  for (i = 1; i <= nlive; i++) {
    if (!valid_hostname(livehost[i])) decline("live member " livehost[i] " is no hostname")
    isLive[livehost[i]] = 1
  }
  nout = 0
  for (i = 1; i <= ncur; i++) {
    h = url_host(cur[i])
    if (h == "") decline("an entry is not https://HOST:PORT")
    if (h in isLive) { keptHost[h] = 1; keep(cur[i]) }
  }
  for (i = 1; i <= nlive; i++) if (!(livehost[i] in keptHost)) keep("https://" livehost[i] ":2379")
  if (nout == 0) decline("no live member")
}
function joined(   i, s) { s = out[1]; for (i = 2; i <= nout; i++) s = s "," out[i]; return s }
'

flanneld_endpoints_edit() {
  local file=$1 live=$2 final
  # Each hostname is checked in full below (valid_hostname); here, that awk -v reads the list as it is.
  [[ $live =~ ^[a-z0-9.-]+(,[a-z0-9.-]+)*$ ]] || { echo "live members: no list of hostnames" >&2; return 3; }
  host_file_plain_text "$file" || { echo "the file holds bytes other than printable ASCII, tab, CR LF" >&2; return 3; }
  final=$(($(tail -c1 "$file" | wc -l)))
  LC_ALL=C awk -v live="$live" -v final="$final" "$ETCD_ENDPOINTS_AWK"'
    { line[NR] = $0 }
    END {
      key = "FLANNEL_ETCD_ENDPOINTS"
      n = NR
      last = 0
      for (i = 1; i <= n; i++) {
        cr[i] = ""
        if (line[i] ~ /\r$/) { cr[i] = "\r"; line[i] = substr(line[i], 1, length(line[i]) - 1) }
        if (line[i] ~ ("^[ \t]*" key "=")) last = i
      }
      if (!last) decline(key " is not set")
      # readEtcdConf: the last active line counts; its value trimmed at the end, one pair of quotes off.
      raw = substr(line[last], index(line[last], "=") + 1)
      sub(/[ \t]+$/, "", raw)
      value = raw
      if (length(raw) >= 2 && (raw ~ /^".*"$/ || raw ~ /^\047.*\047$/)) value = substr(raw, 2, length(raw) - 2)
      m = split(value, part, ",")
      ncur = 0
      for (i = 1; i <= m; i++) {
        sub(/^[ \t]+/, "", part[i])
        sub(/[ \t]+$/, "", part[i])
        if (part[i] != "") cur[++ncur] = part[i]
      }
      live_list()
      urls = joined()
      # setEtcdConfKeys: every active line of the key gets the value, with its own indentation and quotes.
      for (i = 1; i <= n; i++) {
        if (line[i] !~ ("^[ \t]*" key "=")) continue
        indent = line[i]
        sub(/[^ \t].*$/, "", indent)
        raw = substr(line[i], index(line[i], "=") + 1)
        sub(/[ \t]+$/, "", raw)
        q = ""
        if (length(raw) >= 2 && raw ~ /^".*"$/) q = "\""
        else if (length(raw) >= 2 && raw ~ /^\047.*\047$/) q = "\047"
        line[i] = indent key "=" q urls q
      }
      for (i = 1; i <= n; i++) printf "%s%s%s", line[i], cr[i], (i < n || final ? "\n" : "")
    }' "$file"
}
