# shellcheck shell=bash
# hostFile.sh: write one of the files the workflow edits (ReadHostFile.sh reads them); inlined like the
# other lib files (functions/adapters/scriptText.ts). WriteHostFile.sh is this alone; a step's own script
# (ConfigureNewMember.sh, RollMasters.sh, UpdateFlannel.sh) writes its file first with it, in the same
# host command as what follows the write. Where the edit itself is ported to the shell (flanneld, the
# inventory), host_file_edit reads, edits and writes in that one command, with the same write.
#
#   host_file_write PATH EXPECTED_SHA256 CONTENT_BASE64 [restart]
#       Replaces PATH with the content (base64), atomically, keeping a dated copy of the old one beside
#       it, and only if the file still has the sha256 the workflow read (nobody changed it in between).
#       Writing the content it already has is a no-op. With `restart`, it first leaves
#       PATH.restart-pending, which the step's restart script removes once the service runs on the new
#       content: a run killed between the write and the restart restarts on resume. Prints
#       {"changed":bool[,"sha256":"…"]}. Exit 2 for bad arguments or a path this workflow does not
#       write; exit 3 (refused) when the file changed since it was read, nothing written.
#
#   host_file_edit PATH EDIT ARG [restart]
#       Reads, edits and writes PATH in this one command: EDIT (lib/etcdEndpoints.sh, lib/inventoryEdit.sh) prints
#       the new content of a copy of PATH taken first, given ARG; that content is written as
#       host_file_write writes it, over the copy's sha256 (so a change made meanwhile is refused, exit 3),
#       with the marker when asked. Prints {"absent":true} when PATH does not exist and
#       {"unedited":"WHY"} when EDIT declines the file's form (its exit 3): nothing written, and the
#       workflow reads the file and edits it itself; else host_file_write's {"changed":bool[,"sha256":"…"]}.
#
#   host_file_plain_text FILE
#       Whether FILE holds only what the edits on the host read alike in the shell and in the workflow:
#       printable ASCII, tab, LF, and CR only right before LF or at the very end (no NUL, no other control
#       character, no byte of a multibyte character, which JavaScript's \s and trim would read otherwise).

host_file_write() {
  local path=$1 expected=$2 content_b64=$3 restart=${4:-} tmp new current
  # Called in a command substitution too, which does not inherit errexit.
  set -o errexit -o nounset -o pipefail
  case "$path" in
    /etc/ansible/hosts | /etc/origin/master/master-config.yaml | /etc/sysconfig/flanneld) ;;
    /etc/etcd/generated_certs/etcd-*/etcd.conf)
      [[ $path =~ ^/etc/etcd/generated_certs/etcd-[a-z0-9.-]+/etcd\.conf$ ]] || { echo "bad path" >&2; exit 2; }
      ;;
    *) echo "not a file this workflow writes: $path" >&2; exit 2 ;;
  esac
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || { echo "bad sha256" >&2; exit 2; }
  [[ $content_b64 =~ ^[A-Za-z0-9+/=]+$ ]] || { echo "content is not base64" >&2; exit 2; }
  [[ $restart =~ ^(restart)?$ ]] || { echo "bad flag: $restart" >&2; exit 2; }

  tmp=$(mktemp "${path}.new.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -f '$tmp'" EXIT
  printf '%s' "$content_b64" | base64 -d >"$tmp"
  new=$(sha256sum "$tmp" | cut -d' ' -f1)
  current=$(sha256sum "$path" | cut -d' ' -f1)
  if [ "$current" = "$new" ]; then
    rm -f "$tmp"
    printf '{"changed":false}\n'
    return 0
  fi
  if [ "$current" != "$expected" ]; then
    echo "$path changed since it was read (sha256 $current, expected $expected); not overwriting" >&2
    exit 3
  fi
  cp -p "$path" "${path}.etcd-replace.$(date -u +%Y%m%dT%H%M%SZ)"
  [ -z "$restart" ] || : >"${path}.restart-pending"
  chmod --reference="$path" "$tmp"
  mv -f "$tmp" "$path"
  printf '{"changed":true,"sha256":"%s"}\n' "$new"
}

host_file_edit() {
  local path=$1 edit=$2 arg=$3 restart=${4:-} copy next why status=0 content_b64 sha
  set -o errexit -o nounset -o pipefail
  case "$path:$edit" in
    /etc/sysconfig/flanneld:flanneld_endpoints_edit | /etc/ansible/hosts:inventory_join_etcd_edit) ;;
    *) echo "not an edit this workflow makes on the host: $edit of $path" >&2; exit 2 ;;
  esac
  if [ ! -e "$path" ]; then
    printf '{"absent":true}\n'
    return 0
  fi
  copy=$(mktemp)
  next=$(mktemp)
  # shellcheck disable=SC2064 # expand now: the paths are fixed
  trap "rm -f '$copy' '$next'" EXIT
  cat "$path" >"$copy"
  why=$("$edit" "$copy" "$arg" 2>&1 >"$next") || status=$?
  if ((status == 3)); then
    printf '{"unedited":"%s"}\n' "$(printf '%s' "$why" | tr -cd 'A-Za-z0-9 ._:,=/-' | head -c 200)"
    return 0
  fi
  if ((status != 0)); then
    echo "$why" >&2
    exit 1
  fi
  content_b64=$(base64 -w0 "$next")
  if cmp -s "$copy" "$next"; then
    printf '{"changed":false}\n'
    return 0
  fi
  # host_file_write keeps its own trap: the copies go first.
  sha=$(sha256sum "$copy" | cut -d' ' -f1)
  rm -f "$copy" "$next"
  trap - EXIT
  host_file_write "$path" "$sha" "$content_b64" "$restart"
}

host_file_plain_text() {
  local others
  others=$(LC_ALL=C tr -d '\11\12\15\40-\176' <"$1" | wc -c)
  ((others == 0)) || return 1
  ! LC_ALL=C grep -q $'\r.' "$1"
}
