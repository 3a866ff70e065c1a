# shellcheck shell=bash
# inventoryEdit.sh: UpdateInventory's edit of /etc/ansible/hosts made on the installer host itself, in the
# command that writes it (lib/hostFile.sh host_file_edit), instead of a read, an edit in the workflow and a
# write. Inlined like the other lib files (functions/adapters/scriptText.ts), after lib/hostFile.sh. The
# edit is functions/config/inventory.ts joinEtcdGroup's, byte for byte (test/unit/inventoryHostEdit.test.ts
# runs both over the same files): the new host leaves [new_etcd]; [etcd] loses the failed host's lines and
# gains the new host as its last host line when it is not there. Only those lines change. A file in a form
# this edit does not know (a byte outside printable ASCII, tab, CR before LF; no [etcd] group) is declined
# with exit 3 (refused: nothing changed) and the reason on stderr: the workflow then reads the file and
# edits it itself.
#
#   inventory_join_etcd_edit FILE NEW_HOST[,FAILED_HOST]
#       Prints FILE with that change (the hostnames: the script checks them first).

inventory_join_etcd_edit() {
  local file=$1 hosts=$2 final
  # awk -v reads the names as they are: nothing but hostname characters.
  [[ $hosts =~ ^[a-z0-9.-]+(,[a-z0-9.-]+)?$ ]] || { echo "hosts: no hostnames" >&2; return 3; }
  host_file_plain_text "$file" || { echo "the file holds bytes other than printable ASCII, tab, CR LF" >&2; return 3; }
  final=$(($(tail -c1 "$file" | wc -l)))
  LC_ALL=C awk -v hosts="$hosts" -v final="$final" '
    function decline(why) { print why > "/dev/stderr"; exit 3 }
    function trim(s) { sub(/^[ \t\r]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
    # The group a [group] line opens (its name trimmed), or "" for any other line.
    function header(s,   t, inner) {
      t = trim(s)
      if (substr(t, 1, 1) != "[" || substr(t, length(t), 1) != "]" || length(t) < 2) return ""
      inner = substr(t, 2, length(t) - 2)
      if (index(inner, "]")) return ""
      inner = trim(inner)
      return inner == "" ? "\001" : inner
    }
    function host_line(s,   t) { t = trim(s); return t != "" && substr(t, 1, 1) != "#" && substr(t, 1, 1) != ";" }
    function first_token(s,   t) { t = trim(s); sub(/[ \t].*$/, "", t); return t }
    { line[NR] = $0 }
    END {
      n = NR
      split(hosts, name, ",")
      add = name[1]
      failed = (2 in name) ? name[2] : ""
      # The group each line belongs to: the last [group] line above it.
      group = ""
      etcdSeen = 0
      for (i = 1; i <= n; i++) {
        h = header(line[i])
        if (h != "") { group = h; isHeader[i] = 1; if (h == "etcd") { etcdSeen = 1; lastHeader = i; lastHost = i } ; continue }
        if (!host_line(line[i])) continue
        # The new host leaves [new_etcd]; the failed host leaves [etcd].
        if (group == "new_etcd" && first_token(line[i]) == add) drop[i] = 1
        if (group == "etcd") {
          lastHost = i
          if (failed != "" && first_token(line[i]) == failed) drop[i] = 1
          else if (first_token(line[i]) == add) present = 1
        }
      }
      if (!etcdSeen) decline("the inventory has no [etcd] group")
      cr = line[lastHeader] ~ /\r$/ ? "\r" : ""
      m = 0
      for (i = 1; i <= n; i++) {
        if (!(i in drop)) out[++m] = line[i]
        if (i == lastHost && !present) out[++m] = add cr
      }
      for (i = 1; i <= m; i++) printf "%s%s", out[i], (i < m || final ? "\n" : "")
    }' "$file"
}
