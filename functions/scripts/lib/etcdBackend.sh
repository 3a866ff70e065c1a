# shellcheck shell=bash
# etcdBackend.sh: what a stopped member's /var/lib/etcd holds, read without starting etcd; inlined like
# the other lib files (functions/adapters/scriptText.ts). Read-only: every function reads the files it
# is given and nothing else (DescribeRestorePoint.sh gives it a copy of the backend).
#
#   etcd_backend_status COPY      `etcdctl snapshot status COPY -w json` (etcdctl 3.2, 3.3 and 3.4 read a
#                                 data directory's member/snap/db as they read a snapshot: bolt opens the
#                                 file read-write and locks it, hence a COPY). Sets ETCD_BACKEND_REVISION
#                                 (the highest revision of any key, tombstones included), ETCD_BACKEND_HASH,
#                                 ETCD_BACKEND_KEYS (keys of every bucket) and ETCD_BACKEND_SIZE; returns 1
#                                 when etcdctl rejects the file.
#   etcd_backend_consistent_index FILE
#                                 prints the raft index the backend was last committed at (key
#                                 "consistent_index" of bucket "meta", big-endian): the last log entry
#                                 applied to this data. Read from the bolt file itself (its meta page of
#                                 the highest valid txid, then the B+tree); returns 1 when the file is not a
#                                 bolt database or holds no such key.
#   etcd_wal_identity WAL_DIR     sets ETCD_WAL_MEMBER and ETCD_WAL_CLUSTER (16 hex digits) from the
#                                 metadata record every WAL file starts with (etcdserverpb.Metadata: NodeID,
#                                 ClusterID); returns 1 when no WAL file holds one.
#
# Both numbers lag what the member had applied by at most the backend's batch interval (100 ms): etcd
# commits the backend in batches and replays the rest of its WAL at its next start.

# The bytes of FILE from OFFSET, LENGTH of them, as decimal numbers in the array ETCD_BOLT_BYTES.
etcd_bolt_read() {
  local file=$1 offset=$2 length=$3
  ETCD_BOLT_BYTES=()
  read -r -a ETCD_BOLT_BYTES <<<"$(od -An -v -tu1 -j "$offset" -N "$length" "$file" 2>/dev/null | tr '\n' ' ')"
  ((${#ETCD_BOLT_BYTES[@]} == length))
}

# The little-endian unsigned integer of WIDTH bytes at INDEX of ETCD_BOLT_BYTES (8 bytes wrap to a
# negative number above 2^63; printf %u prints it back).
etcd_bolt_le() {
  local index=$1 width=$2 value=0 k
  for ((k = width - 1; k >= 0; k--)); do value=$(((value << 8) | ETCD_BOLT_BYTES[index + k])); done
  printf '%s' "$value"
}

# LENGTH bytes at INDEX of ETCD_BOLT_BYTES as lower-case hex (keys compare as bolt compares them, bytewise).
etcd_bolt_hex() {
  local index=$1 length=$2 k out=''
  for ((k = 0; k < length; k++)); do printf -v out '%s%02x' "$out" "${ETCD_BOLT_BYTES[index + k]}"; done
  printf '%s' "$out"
}

etcd_text_hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# The meta of the page at OFFSET: sets ETCD_BOLT_TXID and ETCD_BOLT_ROOT when its magic, version and
# FNV-1a checksum are right; returns 1 otherwise.
etcd_bolt_meta() {
  local file=$1 offset=$2 sum k
  etcd_bolt_read "$file" "$offset" 80 || return 1
  [[ $(etcd_bolt_le 16 4) == 3977042669 && $(etcd_bolt_le 20 4) == 2 ]] || return 1
  sum=-3750763034362895579
  for ((k = 16; k < 72; k++)); do sum=$(((sum ^ ETCD_BOLT_BYTES[k]) * 1099511628211)); done
  [[ $sum == "$(etcd_bolt_le 72 8)" ]] || return 1
  ETCD_BOLT_PAGE_SIZE=$(etcd_bolt_le 24 4)
  ETCD_BOLT_ROOT=$(etcd_bolt_le 32 8)
  ETCD_BOLT_TXID=$(etcd_bolt_le 64 8)
}

# Finds KEY_HEX in the leaf page held in ETCD_BOLT_BYTES from BASE on; sets ETCD_BOLT_VALUE (its value's
# index in ETCD_BOLT_BYTES), ETCD_BOLT_VSIZE and ETCD_BOLT_FLAGS (1: a bucket).
etcd_bolt_leaf_find() {
  local base=$1 key=$2 count i element pos ksize
  count=$(etcd_bolt_le $((base + 10)) 2)
  for ((i = 0; i < count; i++)); do
    element=$((base + 16 + i * 16))
    pos=$(etcd_bolt_le $((element + 4)) 4)
    ksize=$(etcd_bolt_le $((element + 8)) 4)
    if [[ $(etcd_bolt_hex $((element + pos)) "$ksize") == "$key" ]]; then
      ETCD_BOLT_FLAGS=$(etcd_bolt_le "$element" 4)
      ETCD_BOLT_VALUE=$((element + pos + ksize))
      ETCD_BOLT_VSIZE=$(etcd_bolt_le $((element + 12)) 4)
      return 0
    fi
  done
  return 1
}

# Finds KEY_HEX in the tree rooted at page PGID of FILE: reads the leaf that holds it into ETCD_BOLT_BYTES
# and sets what etcd_bolt_leaf_find sets. At most 8 levels.
etcd_bolt_tree_find() {
  local file=$1 pgid=$2 key=$3 depth flags count overflow i element child found
  for ((depth = 0; depth < 8; depth++)); do
    etcd_bolt_read "$file" $((pgid * ETCD_BOLT_PAGE_SIZE)) 16 || return 1
    flags=$(etcd_bolt_le 8 2)
    count=$(etcd_bolt_le 10 2)
    overflow=$(etcd_bolt_le 12 4)
    ((overflow < 256)) || return 1
    etcd_bolt_read "$file" $((pgid * ETCD_BOLT_PAGE_SIZE)) $(((overflow + 1) * ETCD_BOLT_PAGE_SIZE)) || return 1
    if ((flags & 2)); then
      etcd_bolt_leaf_find 0 "$key"
      return
    fi
    ((flags & 1)) || return 1
    # A branch: the last element whose key is not above KEY (bolt's search).
    child=''
    for ((i = 0; i < count; i++)); do
      element=$((16 + i * 16))
      found=$(etcd_bolt_hex $((element + $(etcd_bolt_le "$element" 4))) "$(etcd_bolt_le $((element + 4)) 4)")
      [[ $i -eq 0 || ! $found > $key ]] || break
      child=$(etcd_bolt_le $((element + 8)) 8)
    done
    [[ -n $child ]] || return 1
    pgid=$child
  done
  return 1
}

etcd_backend_consistent_index() {
  local file=$1 txid=-1 root='' meta
  for meta in 0 1; do
    # Page 1 sits one page size in: read page 0's first (its size is in every valid meta).
    if etcd_bolt_meta "$file" $((meta * ${ETCD_BOLT_PAGE_SIZE:-4096})) && ((ETCD_BOLT_TXID > txid)); then
      txid=$ETCD_BOLT_TXID
      root=$ETCD_BOLT_ROOT
    fi
  done
  [[ -n $root ]] || return 1
  etcd_bolt_tree_find "$file" "$root" "$(etcd_text_hex meta)" || return 1
  ((ETCD_BOLT_FLAGS & 1)) || return 1
  local bucket_root value
  bucket_root=$(etcd_bolt_le "$ETCD_BOLT_VALUE" 8)
  if [[ $bucket_root == 0 ]]; then
    # An inline bucket: its page follows the 16-byte bucket header inside the value.
    etcd_bolt_leaf_find $((ETCD_BOLT_VALUE + 16)) "$(etcd_text_hex consistent_index)" || return 1
  else
    etcd_bolt_tree_find "$file" "$bucket_root" "$(etcd_text_hex consistent_index)" || return 1
  fi
  ((ETCD_BOLT_VSIZE == 8)) || return 1
  value=$(etcd_bolt_hex "$ETCD_BOLT_VALUE" 8)
  printf '%u\n' "$((16#$value))"
}

# shellcheck disable=SC2034 # read by the scripts that inline this file
etcd_backend_status() {
  local copy=$1 status
  status=$(ETCDCTL_API=3 etcdctl snapshot status "$copy" -w json 2>/dev/null) || return 1
  [[ $status =~ \"revision\":([0-9]+) ]] || return 1
  ETCD_BACKEND_REVISION=${BASH_REMATCH[1]}
  [[ $status =~ \"hash\":([0-9]+) ]] && ETCD_BACKEND_HASH=${BASH_REMATCH[1]}
  [[ $status =~ \"totalKey\":([0-9]+) ]] && ETCD_BACKEND_KEYS=${BASH_REMATCH[1]}
  [[ $status =~ \"totalSize\":([0-9]+) ]] && ETCD_BACKEND_SIZE=${BASH_REMATCH[1]}
  return 0
}

# The varint at INDEX of ETCD_BOLT_BYTES: sets ETCD_VARINT and ETCD_VARINT_END (the index after it).
etcd_varint() {
  local index=$1 shift=0 byte value=0
  for ((; shift < 70; shift += 7)); do
    byte=${ETCD_BOLT_BYTES[index]:-}
    [[ -n $byte ]] || return 1
    value=$((value | ((byte & 127) << shift)))
    index=$((index + 1))
    ((byte < 128)) && break
  done
  ETCD_VARINT=$value
  ETCD_VARINT_END=$index
}

# The first records of WAL file FILE (frames: an 8-byte little-endian length, the low 56 bits, then a
# walpb.Record {type, crc, data}); the metadata record (type 1) holds NodeID (field 1) and ClusterID (field 2).
# shellcheck disable=SC2034 # read by the scripts that inline this file
etcd_wal_file_identity() {
  local file=$1 at=0 length padding end type data_end member='' cluster=''
  etcd_bolt_read "$file" 0 512 || etcd_bolt_read "$file" 0 "$(stat -c %s "$file")" || return 1
  for _ in 1 2 3; do
    length=$(($(etcd_bolt_le "$at" 8) & 0xffffffffffffff))
    # The top byte: its high bit says the record is padded to 8 bytes, its low 3 bits by how much.
    padding=0
    ((ETCD_BOLT_BYTES[at + 7] & 128)) && padding=$((ETCD_BOLT_BYTES[at + 7] & 7))
    at=$((at + 8))
    end=$((at + length + padding))
    # Record: 0x08 type, 0x10 crc, 0x1a data.
    ((ETCD_BOLT_BYTES[at] == 8)) || return 1
    etcd_varint $((at + 1)) || return 1
    type=$ETCD_VARINT
    if ((type == 1)); then
      ((ETCD_BOLT_BYTES[ETCD_VARINT_END] == 16)) || return 1
      etcd_varint $((ETCD_VARINT_END + 1)) || return 1
      ((ETCD_BOLT_BYTES[ETCD_VARINT_END] == 26)) || return 1
      etcd_varint $((ETCD_VARINT_END + 1)) || return 1
      data_end=$((ETCD_VARINT_END + ETCD_VARINT))
      at=$ETCD_VARINT_END
      while ((at < data_end)); do
        case ${ETCD_BOLT_BYTES[at]} in
          8) etcd_varint $((at + 1)) || return 1; printf -v member '%016x' "$ETCD_VARINT" ;;
          16) etcd_varint $((at + 1)) || return 1; printf -v cluster '%016x' "$ETCD_VARINT" ;;
          *) return 1 ;;
        esac
        at=$ETCD_VARINT_END
      done
      [[ -n $member && -n $cluster ]] || return 1
      ETCD_WAL_MEMBER=$member
      ETCD_WAL_CLUSTER=$cluster
      return 0
    fi
    at=$end
  done
  return 1
}

etcd_wal_identity() {
  local dir=$1 file i
  local -a files=()
  for file in "$dir"/*.wal; do [[ -f $file ]] && files+=("$file"); done
  ((${#files[@]} > 0)) || return 1
  # The newest first (names are SEQ-INDEX in hex, fixed width): a cut file repeats the metadata.
  for ((i = ${#files[@]} - 1; i >= 0; i--)); do
    etcd_wal_file_identity "${files[i]}" && return 0
  done
  return 1
}
