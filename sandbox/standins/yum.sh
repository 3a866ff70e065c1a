#!/usr/bin/env bash
# yum stand-in for sandbox hosts (/usr/local/sbin/yum), modelling RHEL 7's repositories for etcd.
#
# Repositories: LIB/repos/REPO.list (LIB = the sandbox's lib dir, found from this script's resolved
# path), written by `sandbox up`, one line per offered package: `etcd VERSION DIR` (DIR holds that
# version's etcd and etcdctl). rhel-7-server-ose-3.11-rpms offers the cluster's version,
# rhel-7-server-extras-rpms offers 3.3.11 when that build was found at up.
# Installed: /var/lib/rpm-standin/etcd (per host) holds `VERSION REPO`; rpm.sh answers from it.
# Installing a version = bind-mounting DIR/etcd and DIR/etcdctl over /usr/bin/etcd and
# /usr/bin/etcdctl in this host's mount namespace (running processes keep their old binary, as after
# an RPM upgrade), laying down etcd.service and the package's default /etc/etcd/etcd.conf (when
# absent).
#
#   yum install [-y] etcd            the newest version any enabled repo offers (versions compared
#                                    numerically: 3.4.23 > 3.3.11 > 3.2.22), as real yum; upgrades an
#                                    older installed etcd
#   yum install [-y] etcd-V[-1.el7[.x86_64]]
#                                    exactly V; "No package etcd-V available." (exit 1) when no repo
#                                    offers it; V older than the installed one: nothing changes
#                                    ("Package matching … already installed. Checking for update.")
#   yum downgrade [-y] etcd[-V]      V (or the next older offered version) when older than installed
#   yum remove|erase [-y] etcd       stops and disables etcd.service, removes it and the binaries;
#                                    /etc/etcd/etcd.conf stays (%config(noreplace))
#   yum [--showduplicates] list [all|available|installed] etcd
#   --disablerepo=GLOB / --enablerepo=GLOB (in order, as yum applies them)
#   iptables-services, iptables, openssl: installed on every sandbox host already ("Nothing to do").
#   anything else: "No package X available." and exit 1, as yum does.
set -o errexit -o nounset -o pipefail

lib=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
readonly lib repos_dir="${lib}/repos" absent_dir="${lib}/etcd/absent"
readonly unit_dir=/etc/systemd/system record=/var/lib/rpm-standin/etcd

verb='' packages=() show_duplicates=0 repo_rules=()
for arg in "$@"; do
  case "$arg" in
    -y | --assumeyes | -q | --quiet | -C | --cacheonly) ;;
    --showduplicates) show_duplicates=1 ;;
    --disablerepo=*) repo_rules+=("-${arg#*=}") ;;
    --enablerepo=*) repo_rules+=("+${arg#*=}") ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$arg; else packages+=("$arg"); fi ;;
  esac
done
case "$verb" in
  erase) verb=remove ;;
  install | downgrade | remove | list) ;;
  *)
    echo "yum (sandbox stand-in): only install, downgrade, remove and list are supported" >&2
    exit 1
    ;;
esac
if [ "$verb" != list ] && [ "${#packages[@]}" -eq 0 ]; then
  echo "Error: Need to pass a list of pkgs to ${verb}" >&2
  exit 1
fi

# --- versions and repositories -------------------------------------------------------------------

# version_lt A B: A < B, numerically per X.Y.Z component.
version_lt() {
  local IFS=.
  local -a a b
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  local i
  for i in 0 1 2; do
    if ((10#${a[i]:-0} < 10#${b[i]:-0})); then return 0; fi
    if ((10#${a[i]:-0} > 10#${b[i]:-0})); then return 1; fi
  done
  return 1
}

repo_enabled() {
  local repo=$1 enabled=1 rule
  for rule in ${repo_rules[@]+"${repo_rules[@]}"}; do
    # shellcheck disable=SC2053 # the rule is a glob, as yum's --disablerepo takes
    if [[ $repo == ${rule:1} ]]; then
      if [ "${rule:0:1}" = - ]; then enabled=0; else enabled=1; fi
    fi
  done
  [ "$enabled" = 1 ]
}

# offers: lines "VERSION REPO DIR" for etcd in the enabled repos, oldest first.
offers() {
  local file repo name version dir
  for file in "${repos_dir}"/*.list; do
    [ -f "$file" ] || continue
    repo=$(basename "$file" .list)
    repo_enabled "$repo" || continue
    while read -r name version dir; do
      if [ "$name" = etcd ]; then echo "${version} ${repo} ${dir}"; fi
    done <"$file"
  done | sort -t. -k1,1n -k2,2n -k3,3n
}

# offer VERSION: "VERSION REPO DIR" of the first enabled repo offering it, or nothing.
offer() { offers | awk -v v="$1" '$1 == v { print; exit }'; }
newest_offer() { offers | tail -n 1; }

installed_version() { if [ -f "$record" ]; then awk '{ print $1; exit }' "$record"; fi; }
installed_repo() { if [ -f "$record" ]; then awk '{ print $2; exit }' "$record"; fi; }

# --- what installing does ------------------------------------------------------------------------

# bind_binaries DIR: DIR/etcd and DIR/etcdctl become /usr/bin/etcd and /usr/bin/etcdctl (any earlier
# bind is detached first; a running etcd keeps the binary it started with).
bind_binaries() {
  local dir=$1 binary
  for binary in etcd etcdctl; do
    while grep -q " /usr/bin/${binary} " /proc/self/mountinfo; do
      umount -l "/usr/bin/${binary}"
    done
    mount --bind "${dir}/${binary}" "/usr/bin/${binary}"
  done
}

install_files() {
  cp "${lib}/templates/etcd.service" "${unit_dir}/etcd.service"
  mkdir -p /etc/etcd /var/lib/etcd
  if [ ! -f /etc/etcd/etcd.conf ]; then
    cat >/etc/etcd/etcd.conf <<'CONF'
#[Member]
#ETCD_CORS=""
ETCD_DATA_DIR="/var/lib/etcd/default.etcd"
ETCD_LISTEN_CLIENT_URLS="http://localhost:2379"
ETCD_NAME="default"
#[Clustering]
ETCD_ADVERTISE_CLIENT_URLS="http://localhost:2379"
CONF
  fi
}

# put VERSION REPO DIR ACTION: installs (Installing/Updating/Downgrading) that version.
put() {
  local version=$1 repo=$2 dir=$3 action=$4
  local nevra="etcd-${version}-1.el7.x86_64"
  echo "Resolving Dependencies"
  echo "--> Running transaction check"
  local what='installed'
  case "$action" in
    Updating) what='an update' ;;
    Downgrading) what='a downgrade' ;;
  esac
  echo "---> Package etcd.x86_64 0:${version}-1.el7 will be ${what}"
  echo "Running transaction"
  echo "  ${action} : ${nevra}    1/1"
  bind_binaries "$dir"
  mkdir -p "$(dirname "$record")"
  echo "${version} ${repo}" >"$record"
  install_files
  case "$action" in
    Installing) echo "Installed:" ;;
    Updating) echo "Updated:" ;;
    Downgrading) echo "Downgraded:" ;;
  esac
  echo "  etcd.x86_64 0:${version}-1.el7"
}

# --- package arguments ---------------------------------------------------------------------------

# want ARG: prints "etcd" (any version) or "etcd VERSION"; nothing for another package.
want() {
  if [[ $1 =~ ^etcd(\.x86_64)?$ ]]; then
    echo etcd
  elif [[ $1 =~ ^etcd-([0-9]+\.[0-9]+\.[0-9]+)(-1\.el7(\.x86_64)?)?$ ]]; then
    echo "etcd ${BASH_REMATCH[1]}"
  fi
}

echo "Loaded plugins: product-id, search-disabled-repos, subscription-manager"

if [ "$verb" = list ]; then
  scope=all
  case "${packages[0]:-}" in all | available | installed)
    scope=${packages[0]}
    packages=("${packages[@]:1}")
    ;;
  esac
  for package in ${packages[@]+"${packages[@]}"}; do
    if [ "$(want "$package")" != etcd ]; then
      echo "Error: No matching Packages to list" >&2
      exit 1
    fi
  done
  current=$(installed_version)
  printed=0
  if [ -n "$current" ] && [ "$scope" != available ]; then
    echo "Installed Packages"
    printf '%-24s %-24s %s\n' etcd.x86_64 "${current}-1.el7" "@$(installed_repo)"
    printed=1
  fi
  if [ "$scope" != installed ]; then
    if [ "$show_duplicates" = 1 ]; then list=$(offers); else list=$(newest_offer); fi
    available=$(awk -v cur="$current" '$1 != cur' <<<"$list" | sed '/^$/d')
    if [ -n "$available" ]; then
      echo "Available Packages"
      while read -r version repo _dir; do
        printf '%-24s %-24s %s\n' etcd.x86_64 "${version}-1.el7" "$repo"
      done <<<"$available"
      printed=1
    fi
  fi
  if [ "$printed" = 0 ]; then
    echo "Error: No matching Packages to list" >&2
    exit 1
  fi
  exit 0
fi

status=0 changed=0 jobs=()
for package in "${packages[@]}"; do
  request=$(want "$package")
  if [ -z "$request" ]; then
    case "$package" in
      iptables-services | iptables | openssl)
        if [ "$verb" = install ]; then
          if [ "$package" = openssl ]; then
            echo "Package 1:openssl-1.0.2k-26.el7_9.x86_64 already installed and latest version"
          else
            echo "Package ${package}-1.4.21-35.el7.x86_64 already installed and latest version"
          fi
        else
          echo "yum (sandbox stand-in): ${verb} ${package} is not supported" >&2
          status=1
        fi
        ;;
      *)
        if [ "$verb" = remove ]; then echo "No Match for argument: ${package}"; else echo "No package ${package} available."; status=1; fi
        ;;
    esac
    continue
  fi
  requested=${request#etcd}
  requested=${requested# }
  current=$(installed_version)
  case "$verb" in
    install)
      if [ -n "$requested" ]; then target=$(offer "$requested"); else target=$(newest_offer); fi
      if [ -z "$target" ]; then
        if [ -n "$current" ] && { [ -z "$requested" ] || [ "$requested" = "$current" ]; }; then
          echo "Package etcd-${current}-1.el7.x86_64 already installed and latest version"
        else
          echo "No package ${package} available."
          status=1
        fi
        continue
      fi
      read -r version repo dir <<<"$target"
      if [ -z "$current" ]; then
        jobs+=("${version} ${repo} ${dir} Installing")
      elif [ "$version" = "$current" ] || { [ -z "$requested" ] && version_lt "$version" "$current"; }; then
        echo "Package etcd-${current}-1.el7.x86_64 already installed and latest version"
      elif version_lt "$version" "$current"; then
        # Real yum (3.x) never downgrades through install.
        echo "Package matching etcd-${version}-1.el7.x86_64 already installed. Checking for update."
      else
        jobs+=("${version} ${repo} ${dir} Updating")
      fi
      ;;
    downgrade)
      if [ -z "$current" ]; then
        echo "Packages for argument ${package} available, but not installed."
        status=1
        continue
      fi
      if [ -n "$requested" ]; then
        target=$(offer "$requested")
      else
        target=$(offers | awk -v cur="$current" '{ split($1, a, "."); split(cur, b, "."); if (a[1] < b[1] || (a[1] == b[1] && (a[2] < b[2] || (a[2] == b[2] && a[3] < b[3])))) line = $0 } END { if (line != "") print line }')
      fi
      if [ -z "$target" ]; then
        if [ -n "$requested" ]; then echo "No package ${package} available."; else echo "No package etcd available in an older version than ${current}."; fi
        status=1
        continue
      fi
      read -r version repo dir <<<"$target"
      if version_lt "$version" "$current"; then
        jobs+=("${version} ${repo} ${dir} Downgrading")
      else
        echo "Only Upgrade available on package: etcd-${version}-1.el7.x86_64"
        status=1
      fi
      ;;
    remove)
      if [ -z "$current" ] || { [ -n "$requested" ] && [ "$requested" != "$current" ]; }; then
        echo "No Match for argument: ${package}"
        continue
      fi
      jobs+=("${current} - - Removing")
      ;;
  esac
done

if [ "$status" -ne 0 ] && [ "$verb" = install ]; then
  # A package no repo offers: nothing is installed (not even the others).
  echo "Error: Nothing to do" >&2
  exit 1
fi
if [ "${#jobs[@]}" -eq 0 ]; then
  if [ "$verb" = remove ]; then echo "No Packages marked for removal"; else echo "Nothing to do"; fi
  exit "$status"
fi
for job in "${jobs[@]}"; do
  read -r version repo dir action <<<"$job"
  if [ "$action" = Removing ]; then
    echo "Running transaction"
    echo "  Erasing    : etcd-${version}-1.el7.x86_64    1/1"
    # %preun (systemd_preun): disable and stop the unit; the files go, a changed etcd.conf stays.
    systemctl --no-reload disable etcd >/dev/null 2>&1 || true
    systemctl stop etcd >/dev/null 2>&1 || true
    rm -f "${unit_dir}/etcd.service" "$record"
    bind_binaries "$absent_dir"
    echo "Removed:"
    echo "  etcd.x86_64 0:${version}-1.el7"
  else
    put "$version" "$repo" "$dir" "$action"
  fi
  changed=1
done
if [ "$changed" = 1 ]; then echo "Complete!"; fi
exit "$status"
