# shellcheck shell=bash
# awaitMember.sh: the new member's wait, on its own host: one host command while it starts and catches
# up, instead of a member list and a health request per poll through the host runner (each an SSM
# command on AWS). Inlined like the other lib files (functions/adapters/scriptText.ts); used by
# StartNewMember.sh (after the start) and by DescribeEtcdHost.sh await-member (a wait resumed by the
# step). Read-only: it asks etcd with this host's /etc/etcd peer certificate (the bundle's) and reads
# /var/lib/etcd's size and df; it changes nothing.
#
#   await_member CN MEMBER_ID SELF_URL MEMBER_URLS WATCH_URLS LEARNER WAIT_SECONDS BUDGET_SECONDS
#     CN           the new member's name (its hostname): it is started once the member list names it so
#     MEMBER_ID    16 hex digits: the member this run added
#     SELF_URL     the new member's client URL, https://host:port
#     MEMBER_URLS  comma list of the surviving members' client URLs: the member list is asked there
#     WATCH_URLS   comma list of client URLs of voting members that answered at the step's last look
#                  ("-" for none): each is asked `endpoint status` every AWAIT_WATCH_SECONDS; the first that
#                  does not answer ends the wait ("doubt"), and the step observes the whole cluster and
#                  decides on quorum itself
#     LEARNER      learner | voter: a learner is started once named; a voter once named and its own
#                  endpoint answers `endpoint health` (a read through the leader, served only once it has
#                  applied the log: caught up)
#     WAIT_SECONDS how long the member may go without progress: not answering while /var/lib/etcd does
#                  not grow, or answering without being healthy
#     BUDGET_SECONDS how long this wait may take in all
#
# Prints a progress line on stdout every AWAIT_PROGRESS_SECONDS, then one JSON line (after the fields in
# AWAIT_EXTRA_JSON, when the caller sets it: `"started":"now",` for StartNewMember.sh):
#   {"state":S,"named":bool,"answered":bool,"dataBytes":N,"sizeBytes":N,"availableBytes":N,"down":URL|null,"waitedSeconds":N}
# S: caughtUp (started, as LEARNER says); removed (MEMBER_ID is no longer in the member list); noProgress
# (not answering, and /var/lib/etcd did not grow for WAIT_SECONDS: sizeBytes and availableBytes are df's
# numbers there, for the step's "no space left" verdict); unhealthy (answering as MEMBER_ID, not healthy
# for WAIT_SECONDS); budget (BUDGET_SECONDS ran out while it made progress); doubt (`down` did not
# answer). Exit 0 in every case: the step gives each state its meaning (functions/steps/StartNewMember.ts).
# Exit 2 for malformed arguments.

readonly AWAIT_TLS_DIR=/etc/etcd
readonly AWAIT_DATA_DIR=/var/lib/etcd
readonly AWAIT_URL_RE='^https://[a-z0-9.-]+:[0-9]{1,5}$'
# Progress (its status, else the data directory's size) is read this often; the watched members every
# AWAIT_WATCH_SECONDS (the step's quorum check, as often as before), a progress line every AWAIT_PROGRESS_SECONDS.
readonly AWAIT_PROGRESS_EVERY=2 AWAIT_WATCH_SECONDS=5 AWAIT_PROGRESS_SECONDS=10

await_etcdctl() {
  local endpoints=$1 dial=$2 command=$3
  shift 3
  ETCDCTL_API=3 timeout $((${command%s} + 2)) etcdctl \
    --cacert="$AWAIT_TLS_DIR/ca.crt" --cert="$AWAIT_TLS_DIR/peer.crt" --key="$AWAIT_TLS_DIR/peer.key" \
    --endpoints="$endpoints" --dial-timeout="$dial" --command-timeout="$command" "$@"
}

await_url_list() {
  local list=$1 url
  local -a urls
  [[ -n $list && $list != *,,* && $list != ,* && $list != *, ]] || return 1
  IFS=, read -r -a urls <<<"$list"
  for url in "${urls[@]}"; do [[ $url =~ $AWAIT_URL_RE ]] || return 1; done
}

# The member's line of `member list` (simple format: "ID, status, name, peer URLs, client URLs[, learner]",
# IDs in hex on 3.2 as on 3.4): sets AWAIT_LISTED (1 listed, 0 not listed, -1 the list did not answer)
# and AWAIT_NAME.
await_member_line() {
  local endpoints=$1 id=$2 list line
  AWAIT_NAME=''
  if ! list=$(await_etcdctl "$endpoints" 2s 5s member list 2>/dev/null); then
    AWAIT_LISTED=-1
    return 0
  fi
  line=$(grep -E "^0*${id#"${id%%[!0]*}"}, " <<<"$list" | head -n 1 || true)
  if [[ -z $line ]]; then
    AWAIT_LISTED=0
    return 0
  fi
  AWAIT_LISTED=1
  if [[ $line =~ ^[0-9a-f]+,\ [a-z]+,\ ([A-Za-z0-9._-]{1,253}), ]]; then AWAIT_NAME=${BASH_REMATCH[1]}; fi
}

# The first of the comma list URLS whose member does not answer `endpoint status`, asked all at once; nothing when all answer.
await_first_down() {
  local list=$1 i j
  local -a urls pids
  IFS=, read -r -a urls <<<"$list"
  for i in "${!urls[@]}"; do
    await_etcdctl "${urls[i]}" 1s 2s endpoint status >/dev/null 2>&1 &
    pids[i]=$!
  done
  for i in "${!urls[@]}"; do
    if ! wait "${pids[i]}"; then
      printf '%s' "${urls[i]}"
      for j in "${!pids[@]}"; do wait "${pids[j]}" 2>/dev/null || true; done
      return 0
    fi
  done
}

await_data_bytes() { du -sb "$AWAIT_DATA_DIR" 2>/dev/null | cut -f1 || echo 0; }

await_member() {
  local cn=$1 id=$2 self=$3 member_urls=$4 watch=$5 learner=$6 wait=$7 budget=$8
  local start=$SECONDS deadline end state='' now_bytes answered=false named=false bytes=-1 now status size=0 available=0 down=''
  local next_progress=0 next_watch=0 next_line next_list=0 pause=0.2 polls=0
  [[ $cn =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || { echo "bad hostname" >&2; exit 2; }
  [[ $id =~ ^[0-9a-f]{16}$ ]] || { echo "bad member id" >&2; exit 2; }
  [[ $self =~ $AWAIT_URL_RE ]] || { echo "bad client URL" >&2; exit 2; }
  await_url_list "$member_urls" || { echo "bad member URLs" >&2; exit 2; }
  [[ $watch == - ]] || await_url_list "$watch" || { echo "bad watch URLs" >&2; exit 2; }
  [[ $learner == learner || $learner == voter ]] || { echo "bad learner flag" >&2; exit 2; }
  [[ $wait =~ ^[0-9]{1,5}$ && $budget =~ ^[0-9]{1,5}$ ]] || { echo "bad wait" >&2; exit 2; }
  deadline=$((start + wait))
  end=$((start + budget))
  next_line=$((start + AWAIT_PROGRESS_SECONDS))
  next_watch=$((start + AWAIT_WATCH_SECONDS))
  for ((;;)); do
    now=$SECONDS
    # The member list until the member is named, then every AWAIT_PROGRESS_EVERY s (still listed?): once
    # named, a voter's health is the one question each look asks.
    if [[ $named == false ]] || ((now >= next_list)); then
      next_list=$((now + AWAIT_PROGRESS_EVERY))
      await_member_line "$member_urls" "$id"
      if ((AWAIT_LISTED == 0)); then
        state=removed
        break
      fi
      if ((AWAIT_LISTED == 1)) && [[ $AWAIT_NAME == "$cn" ]]; then named=true; fi
    fi
    if [[ $named == true ]] && { [[ $learner == learner ]] || await_etcdctl "$self" 1s 3s endpoint health >/dev/null 2>&1; }; then
      state=caughtUp
      break
    fi
    if [[ $watch != - ]] && ((now >= next_watch)); then
      next_watch=$((now + AWAIT_WATCH_SECONDS))
      down=$(await_first_down "$watch")
      if [[ -n $down ]]; then
        state=doubt
        break
      fi
    fi
    if [[ $answered == false ]] && ((now >= next_progress)); then
      next_progress=$((now + AWAIT_PROGRESS_EVERY))
      if status=$(await_etcdctl "$self" 1s 2s endpoint status -w json 2>/dev/null) &&
        [[ $status =~ \"member_id\":([0-9]+) ]] && [[ $(printf '%016x' "$((BASH_REMATCH[1]))") == "$id" ]]; then
        answered=true
        deadline=$((now + wait < end ? now + wait : end))
      else
        now_bytes=$(await_data_bytes)
        if ((now_bytes > bytes)); then
          deadline=$((now + wait < end ? now + wait : end))
          bytes=$now_bytes
        fi
      fi
    fi
    if ((now >= next_line)); then
      next_line=$((now + AWAIT_PROGRESS_SECONDS))
      printf 'progress: %ds: named %s, answering %s, %s bytes in %s\n' $((now - start)) "$named" "$answered" "$bytes" "$AWAIT_DATA_DIR"
    fi
    if ((now >= end)); then
      state=budget
      break
    fi
    if ((now >= deadline)); then
      if [[ $answered == true ]]; then state=unhealthy; else state=noProgress; fi
      break
    fi
    sleep "$pause"
    # Every 0.2 s for the first 50 looks (a small cluster's member starts within seconds: each look it
    # does not take is time the run waits for nothing), then every second (a large replay takes minutes,
    # and the looks must not take its CPU).
    polls=$((polls + 1))
    ((polls < 50)) || pause=1
  done
  if [[ $state == noProgress ]]; then
    read -r size available < <(df -P -B1 "$AWAIT_DATA_DIR" | awk 'NR == 2 { print $2, $4 }') || true
  fi
  ((bytes >= 0)) || bytes=$(await_data_bytes)
  printf '{%s"state":"%s","named":%s,"answered":%s,"dataBytes":%d,"sizeBytes":%d,"availableBytes":%d,"down":%s,"waitedSeconds":%d}\n' \
    "${AWAIT_EXTRA_JSON:-}" "$state" "$named" "$answered" "$bytes" "${size:-0}" "${available:-0}" "$([[ -n $down ]] && printf '"%s"' "$down" || printf null)" $((SECONDS - start))
}
