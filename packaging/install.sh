#!/bin/bash
# install.sh: install coder-appliance on this Debian 12 host from the bundle it sits in, or
# (--inventory) on the host an Ansible inventory names, over SSH, or (--cluster) on every
# host of a cluster's inventory.
#
# It first verifies the whole bundle with what a minimal Debian 12 has (bash,
# gpgv, coreutils' sha256sum, findutils' find): the signature of MANIFEST.json
# by the key whose fingerprint the administrator typed, then every file's
# sha256, and that nothing is missing, added or linked outside. Nothing
# outside this folder is touched, and nothing from the bundle runs, before
# all of it is verified. The rules are those of `appliance bundle verify`
# (appliance/bundle_manifest.py; docs/architecture.md, "The offline bundle"),
# and a failure is one line: `install.sh: error: KIND: what`.
set -euo pipefail
umask 022
export LC_ALL=C

PROG=install.sh
BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
MANIFEST=MANIFEST.json
SIGNATURE=MANIFEST.json.sig
SIGNER_KEY=keys/signer.gpg
INSTALLED_ROOT=/opt/coder-appliance

usage() {
    cat <<EOF
Usage: $PROG --fingerprint FPR [--inventory FILE] [OPTIONS]

Verify this coder-appliance bundle, then install (or upgrade, or uninstall)
coder-appliance on this host, or on the host FILE names.

  --fingerprint FPR   Required. The full fingerprint of the key that signed the
                      bundle, as the build printed it (40 hex digits, spaces
                      allowed). Get it from the person who built the bundle, not
                      from the bundle.
  --inventory FILE    Install on the one host of this Ansible inventory over SSH
                      (user, key and become from the inventory; see
                      ansible/inventory.example.yml) instead of on this host.
  --cluster           With --inventory: deploy the cluster FILE describes (coderd
                      replicas, HAProxy, PostgreSQL under Patroni with etcd,
                      provisioners; ansible/inventory/cluster.example.yml) with
                      ansible/playbooks/cluster.yml; the name users reach it by is
                      the inventory's appliance_hostname. With --uninstall: remove
                      it from every host of FILE (ansible/playbooks/cluster-uninstall.yml).
  --hostname NAME     The name users reach coderd by (the TLS certificate's
                      name and the access URL). Default: this host's FQDN
                      (hostname -f), which must be a DNS name too, or with
                      --inventory the host's appliance_hostname or name.
  --with-templates    Also push the bundle's example templates (templates/) that
                      coderd lacks, as the user whose token is in --token-file
                      (or CODER_SESSION_TOKEN): a rerun after the first user.
  --token-file FILE   A template administrator's session token, for --with-templates.
  --postgres-url URL  Use this external PostgreSQL database (postgres://... or
                      postgresql://...) instead of the one the bundle sets up: no
                      PostgreSQL is installed or started here. CODER_PG_CONNECTION_URL
                      in the environment does the same, and keeps a password out of
                      the process list. Default: the bundle's choice (MANIFEST.json).
  --uninstall         Remove the services; keep the data and configuration.
  --purge             With --uninstall: remove the data and configuration too.
  --force             Allow installing an older version over a newer one.
  --installed DIR     For a delta bundle: the installed version's folder it
                      applies to (default: $INSTALLED_ROOT/OLD_VERSION; with
                      --inventory, the old version's extracted bundle here).
  --verify-only       Verify the bundle (and complete a delta bundle from the
                      installed version) and stop.
  -h, --help          Show this help.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

FINGERPRINT="" TARGET_HOSTNAME="" TOKEN_FILE="" WITH_TEMPLATES=0 UNINSTALL=0 PURGE=0 FORCE=0
INSTALLED_DIR="" VERIFY_ONLY=0 POSTGRES_URL="" INVENTORY="" CLUSTER=0

dns_name() {
    # A DNS name: it becomes the certificate's name, the access URL, an Ansible variable and a
    # word of the commands run on the host.
    [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]]
}

parse_args() {
    while (($#)); do
        case $1 in
            --fingerprint | --hostname | --token-file | --installed | --postgres-url | --inventory)
                (($# >= 2)) || die "usage: $1 needs a value"
                set -- "$1=$2" "${@:3}"
                continue
                ;;
            --fingerprint=*) FINGERPRINT=${1#*=} ;;
            --hostname=*) TARGET_HOSTNAME=${1#*=} ;;
            --token-file=*) TOKEN_FILE=${1#*=} ;;
            --installed=*) INSTALLED_DIR=${1#*=} ;;
            --postgres-url=*) POSTGRES_URL=${1#*=} ;;
            --inventory=*) INVENTORY=${1#*=} ;;
            --with-templates) WITH_TEMPLATES=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            --force) FORCE=1 ;;
            --verify-only) VERIFY_ONLY=1 ;;
            --cluster) CLUSTER=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) die "usage: unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    [[ -n $FINGERPRINT ]] || die "usage: --fingerprint FPR is required (see --help)"
    if ((PURGE && !UNINSTALL)); then die "usage: --purge goes with --uninstall"; fi
    ((CLUSTER)) && check_cluster_options "$@"
    if [[ -n $TARGET_HOSTNAME ]]; then
        check_hostname --hostname
    elif ((!VERIFY_ONLY)) && [[ -z $INVENTORY ]]; then  # with --inventory: the inventory's
        TARGET_HOSTNAME=$(hostname -f 2>/dev/null || uname -n)
        check_hostname "this host's name (hostname -f)" "; give the name users reach coderd by with --hostname NAME"
    fi
    if [[ -n $TOKEN_FILE && ! -r $TOKEN_FILE ]]; then die "usage: --token-file $TOKEN_FILE: cannot be read"; fi
    if [[ -n $INVENTORY && ! -r $INVENTORY ]]; then die "usage: --inventory $INVENTORY: cannot be read"; fi
    # Named from where install.sh was started: the verification runs in the bundle's folder.
    [[ -z $TOKEN_FILE ]] || TOKEN_FILE=$(realpath -- "$TOKEN_FILE")
    [[ -z $INVENTORY ]] || INVENTORY=$(realpath -- "$INVENTORY")
    [[ -z $INSTALLED_DIR ]] || INSTALLED_DIR=$(realpath -m -- "$INSTALLED_DIR")
    if ((WITH_TEMPLATES && UNINSTALL)); then die "usage: --with-templates does not go with --uninstall"; fi
    if [[ -n $POSTGRES_URL ]] && ((UNINSTALL)); then die "usage: --postgres-url does not go with --uninstall"; fi
    ((UNINSTALL)) || check_postgres_url
    return 0
}

check_cluster_options() {
    # The cluster's own inventory says everything else; an option that would be ignored is refused.
    [[ -n $INVENTORY ]] ||
        die "usage: --cluster needs --inventory FILE (see ansible/inventory/cluster.example.yml)"
    local option
    for option in HOSTNAME:--hostname TOKEN_FILE:--token-file POSTGRES_URL:--postgres-url \
        WITH_TEMPLATES:--with-templates INSTALLED_DIR:--installed; do
        local name=${option%%:*} value
        [[ $name == HOSTNAME ]] && name=TARGET_HOSTNAME
        value=${!name}
        [[ -z $value || $value == 0 ]] ||
            die "usage: ${option#*:} does not go with --cluster (the inventory says it, or a cluster does not do it yet: docs/high-availability.md)"
    done
}

check_hostname() {
    # $1: where TARGET_HOSTNAME came from; $2: what to add to the error.
    dns_name "$TARGET_HOSTNAME" ||
        die "usage: $1 '$TARGET_HOSTNAME' is not a DNS name (letters, digits, '-' and '.')${2-}"
}

# Text in which every '%' starts a percent-encoded byte other than NUL: libpq refuses any
# other '%' with the password in its message, which coderd's logs and Ansible would show.
PERCENT_ENCODED='^([^%]|%[0-9A-Fa-f][1-9A-Fa-f]|%[1-9A-Fa-f][0-9A-Fa-f])*$'

check_postgres_url() {
    # The flag, else the environment. Never echoed: it may hold a password. It goes into a
    # vars file (as a string Ansible does not template) and coderd.env, whose systemd reader
    # takes quotes, '\' and '$' as its own.
    [[ -n $POSTGRES_URL ]] || POSTGRES_URL=${CODER_PG_CONNECTION_URL:-}
    [[ -n $POSTGRES_URL ]] || return 0
    local what="the PostgreSQL URL (--postgres-url or CODER_PG_CONNECTION_URL)"
    [[ $POSTGRES_URL =~ ^postgres(ql)?://[^[:space:][:cntrl:]]*$ ]] ||
        die "usage: $what must be postgres://... or postgresql://..., with no spaces"
    if [[ $POSTGRES_URL == *[\"\'\\\$\`]* ]]; then
        die "usage: $what has a quote, '\\', '\$' or '\`': percent-encode it (%22 %27 %5C %24 %60)"
    fi
    [[ $POSTGRES_URL =~ $PERCENT_ENCODED ]] ||
        die "usage: $what has a '%' that is not percent-encoding (two hex digits, not %00): write '%' as %25"
}

# -- MANIFEST.json, read line by line ------------------------------------------------------
# The builder writes one text form (appliance.bundle_manifest.dumps); any other line is
# refused. A path is components of these characters, none of them "." or "..".
COMPONENT='[A-Za-z0-9._+@%~:,=-]+'
SAFE_PATH="^$COMPONENT(/$COMPONENT)*\$"

safe_path() {
    [[ $1 =~ $SAFE_PATH && /$1/ != */./* && /$1/ != */../* ]]
}
VERSION_RE='[0-9A-Za-z.+~-]+'
FILE_LINE='^    \{"path": "([^"\\]*)", "size": ([0-9]+), "sha256": "([0-9a-f]{64})", "mode": "(0[0-7]{3})"\},?$'
LINK_LINE='^    \{"path": "([^"\\]*)", "link": "([^"\\]*)"\},?$'

# parse_manifest FILE PREFIX: fills PREFIX_sha[path] (files), PREFIX_mode[path],
# PREFIX_link[path] (links), PREFIX_order (paths in order), PREFIX_version, PREFIX_since_*,
# PREFIX_versions (the versions line).
parse_manifest() {
    local file=$1 p=$2 n=0 line state=head
    local -n sha=${p}_sha mode=${p}_mode link=${p}_link order=${p}_order
    local -n version=${p}_version since_version=${p}_since_version since_sha=${p}_since_sha
    local -n versions=${p}_versions
    local heads=('^\{$' '^  "format": 1,$' '^  "name": "coder-appliance",$'
        "^  \"version\": \"($VERSION_RE)\",\$" '^  "built": "[^"\\]*",$'
        "^  \"since\": (null|\\{\"manifest_sha256\": \"([0-9a-f]{64})\", \"version\": \"($VERSION_RE)\"\\}),\$"
        '^  "removed": \[("[^"\\]*"(, "[^"\\]*")*)?\],$' '^  "signer": "[0-9A-F]{40}",$'
        '^  "versions": \{.*\},$' '^  "files": \[$')
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        case $state in
            head)
                [[ $line =~ ${heads[n - 1]} ]] || die "manifest: $MANIFEST:$n: unexpected line"
                [[ $n == 4 ]] && version=${BASH_REMATCH[1]}
                [[ $n == 6 && ${BASH_REMATCH[1]} != null ]] &&
                    since_sha=${BASH_REMATCH[2]} since_version=${BASH_REMATCH[3]}
                [[ $n == 9 ]] && versions=$line
                ((n < ${#heads[@]})) || state=files
                ;;
            files)
                local path
                if [[ $line =~ $FILE_LINE ]]; then
                    path=${BASH_REMATCH[1]}
                    [[ -z ${sha[$path]+x} && -z ${link[$path]+x} ]] ||
                        die "manifest: $MANIFEST: $path is listed twice"
                    sha[$path]=${BASH_REMATCH[3]} mode[$path]=${BASH_REMATCH[4]}
                elif [[ $line =~ $LINK_LINE ]]; then
                    path=${BASH_REMATCH[1]}
                    [[ -z ${sha[$path]+x} && -z ${link[$path]+x} ]] ||
                        die "manifest: $MANIFEST: $path is listed twice"
                    link[$path]=${BASH_REMATCH[2]}
                    safe_path "${link[$path]}" ||
                        die "unsafe: $path: link target ${link[$path]} may leave its folder"
                elif [[ $line == "  ]" ]]; then
                    state=end
                    continue
                else
                    die "manifest: $MANIFEST:$n: unexpected line"
                fi
                safe_path "$path" && [[ $path != "$MANIFEST" && $path != "$SIGNATURE" ]] ||
                    die "unsafe: '$path': not a plain relative path inside the bundle"
                order+=("$path")
                ;;
            end)
                [[ $line == "}" ]] || die "manifest: $MANIFEST:$n: unexpected line"
                state=done
                ;;
            done) die "manifest: $MANIFEST:$n: unexpected line" ;;
        esac
    done <"$file"
    [[ $state == done ]] || die "manifest: $MANIFEST: cut short"
}

# -- verification ------------------------------------------------------------------------------
declare -A new_sha=() new_mode=() new_link=() old_sha=() old_mode=() old_link=()
declare -a new_order=() old_order=()
new_version="" new_since_version="" new_since_sha="" old_version="" old_since_version="" old_since_sha=""
new_versions="" old_versions=""

check_signature() {
    local fpr=${FINGERPRINT// /} status rc=0 tag kind rest signers=()
    fpr=${fpr^^}
    [[ $fpr =~ ^[0-9A-F]{40}$ ]] ||
        die "fingerprint: '$FINGERPRINT' is not a full 40-hex-digit key fingerprint"
    local f
    for f in "$MANIFEST" "$SIGNATURE" "$SIGNER_KEY"; do
        [[ -f $BUNDLE/$f ]] || die "missing: $f: not in the bundle"
    done
    command -v gpgv >/dev/null || die "signature: gpgv is not installed (Debian package gpgv)"
    status=$(gpgv --homedir /nonexistent/coder-appliance-gpgv --status-fd 1 \
        --keyring "$BUNDLE/$SIGNER_KEY" "$BUNDLE/$SIGNATURE" "$BUNDLE/$MANIFEST" 2>/dev/null) || rc=$?
    while read -r tag kind rest; do
        [[ $tag == "[GNUPG:]" && $kind == VALIDSIG ]] && signers+=("${rest##* }")
    done <<<"$status"
    if ((rc != 0 || ${#signers[@]} == 0)); then
        die "signature: $SIGNATURE is not a good signature of $MANIFEST by the bundle's $SIGNER_KEY"
    fi
    local s
    for s in "${signers[@]}"; do [[ $s == "$fpr" ]] && return 0; done
    die "fingerprint: $MANIFEST is signed by ${signers[*]}, not by $fpr"
}

check_listing() {
    # Every listed path's folders exist as folders; a link points at a listed file.
    local path dir target
    declare -gA folders=()
    for path in "${new_order[@]}"; do
        dir=$path
        while [[ $dir == */* ]]; do
            dir=${dir%/*}
            [[ -z ${new_sha[$dir]+x} && -z ${new_link[$dir]+x} ]] ||
                die "manifest: $MANIFEST: $path is listed under the file $dir"
            folders[$dir]=1
        done
    done
    for path in "${!new_link[@]}"; do
        target=${new_link[$path]}
        [[ $path == */* ]] && target=${path%/*}/$target
        [[ -n ${new_sha[$target]+x} ]] ||
            die "unsafe: $path: link to ${new_link[$path]}, which is not a file listed in the manifest"
    done
}

check_tree() {
    # Nothing extra, no other kind of entry than folders, files and the listed links.
    local kind path
    while IFS= read -r -d '' kind && IFS= read -r -d '' path; do
        if [[ ($path == "$MANIFEST" || $path == "$SIGNATURE") && $kind == f ]]; then continue; fi
        if [[ $kind == d && -n ${folders[$path]+x} ]]; then continue; fi
        if [[ -z ${new_sha[$path]+x} && -z ${new_link[$path]+x} ]]; then
            die "extra: $path: not listed in $MANIFEST"
        fi
        if [[ -n ${new_link[$path]+x} ]]; then
            [[ $kind == l && $(readlink -- "$BUNDLE/$path") == "${new_link[$path]}" ]] ||
                die "unsafe: $path: expected a link to ${new_link[$path]}"
        elif [[ $kind != f ]]; then
            die "unsafe: $path: expected a regular file, found another kind of entry ($kind)"
        fi
    done < <(find "$BUNDLE" -mindepth 1 -printf '%y\0%P\0')
}

check_hashes() {
    # $1: folder; then path... : every file's sha256 (and so its size) as the manifest says.
    local root=$1 path out
    shift
    (($#)) || return 0
    out=$(cd "$root" && for path in "$@"; do printf '%s  %s\n' "${new_sha[$path]}" "$path"; done |
        sha256sum --check --strict --quiet - 2>/dev/null) && return 0
    path=${out%%$'\n'*}
    path=${path%: *}
    echo "${path:-?}"
    return 1
}

verify() {
    cd "$BUNDLE"
    check_signature
    parse_manifest "$BUNDLE/$MANIFEST" new
    check_listing
    check_tree
    local path present=() absent=() bad
    for path in "${new_order[@]}"; do
        [[ -n ${new_link[$path]+x} ]] && { [[ -L $path ]] || absent+=("$path"); } && continue
        if [[ -f $path ]]; then present+=("$path"); else absent+=("$path"); fi
    done
    if ((${#absent[@]})) && [[ -n $new_since_version ]]; then
        check_base "${absent[@]}"
    elif ((${#absent[@]})); then
        die "missing: ${absent[0]}: listed in $MANIFEST but not in the bundle"
    fi
    if ! bad=$(check_hashes "$BUNDLE" "${present[@]}"); then
        die "tampered: $bad: its sha256 is not the one in $MANIFEST"
    fi
    if ((${#absent[@]})); then complete_from_base "${absent[@]}"; fi
    apply_modes
}

check_base() {
    # A delta bundle: each absent file must be in the installed version it was built against.
    BASE=${INSTALLED_DIR:-$INSTALLED_ROOT/$new_since_version}
    [[ -f $BASE/$MANIFEST ]] ||
        die "base: this is a delta from $new_since_version, whose $BASE/$MANIFEST cannot be read${INVENTORY:+ (with --inventory: --installed DIR, the extracted bundle of that version on this host)}"
    local sum path bad
    sum=$(sha256sum <"$BASE/$MANIFEST")
    [[ ${sum%% *} == "$new_since_sha" ]] ||
        die "base: this is a delta from another build of $new_since_version than the one in $BASE (its $MANIFEST's sha256 differs)"
    parse_manifest "$BASE/$MANIFEST" old
    for path in "$@"; do
        [[ -z ${new_link[$path]+x} && ${old_sha[$path]-} == "${new_sha[$path]}" ]] ||
            die "missing: $path: listed in $MANIFEST but not in the bundle"
        [[ -f $BASE/$path && ! -L $BASE/$path ]] ||
            die "base: $BASE/$path: the installed file differs from the one this delta was built against"
    done
    if ! bad=$(check_hashes "$BASE" "$@"); then
        die "base: $BASE/$bad: the installed file differs from the one this delta was built against"
    fi
}

complete_from_base() {
    # Copy the unchanged files in: this folder becomes the whole new version.
    local path
    for path in "$@"; do
        mkdir -p -- "$BUNDLE/$(dirname -- "$path")"
        cp --reflink=auto -- "$BASE/$path" "$BUNDLE/$path"
    done
}

apply_modes() {
    # Modes come from the signed manifest, not from the tar (or umask). Paths hold no newline.
    local path m
    declare -A by_mode=()
    for path in "${!new_sha[@]}"; do by_mode[${new_mode[$path]}]+="$path"$'\n'; done
    for m in "${!by_mode[@]}"; do
        printf '%s' "${by_mode[$m]}" | (cd "$BUNDLE" && xargs -d '\n' chmod "$m" --)
    done
}

# -- install, upgrade, uninstall ---------------------------------------------------------------
# Ansible (the bundle's ansible/python, run by this host's python3) does the work, on this host or
# (--inventory) over SSH on the inventory's host. Before it can run, python3 itself comes from the
# bundle's apt repository, apt's only source here; on a host reached over SSH, the appliance_files
# role puts the verified bundle there and runs the same bootstrap script there.
BOOTSTRAP=ansible/roles/appliance_files/files/bootstrap-python.sh
CURRENT=$INSTALLED_ROOT/current
CA_ROOT=/var/lib/coder-appliance/ca/root.crt
VARS_FILE="" BUNDLE_VARS="" REMOTE_HOST="" SSH_SOCKETS="" HOST_OUTPUT=""
# versions.bundle, as appliance.bundle_manifest.install_choices writes it (json.dumps, sorted keys).
BUNDLE_RE='"bundle": \{"packages": \[([^]]*)\], "postgres": "(embedded|debian)"\}'
PACKAGE_RE='^"([a-z0-9][a-z0-9+.-]+)"$'

clean_up() {
    # At exit: the token's vars file, and the SSH connection Ansible keeps open between its
    # tasks (ControlPersist), closed so that nothing of this run is left running.
    [[ -z $VARS_FILE ]] || rm -f -- "$VARS_FILE"
    [[ -n $SSH_SOCKETS ]] || return 0
    local socket
    for socket in "$SSH_SOCKETS"/*; do
        [[ -S $socket ]] && ssh -o "ControlPath=$socket" -O exit "$REMOTE_HOST" 2>/dev/null || true
    done
    rm -rf -- "$SSH_SOCKETS"
}

bootstrap_python() {
    # python3 and python3-apt for Ansible, from the bundle's repository and nothing else.
    bash "$BUNDLE/$BOOTSTRAP" "$BUNDLE/apt" "$PROG" || exit 1
}

ansible_cli() {
    # $1: ansible-core's command (playbook, adhoc); then its options. Ansible refuses to run
    # without a UTF-8 locale (C.UTF-8 is in every Debian); no __pycache__ may appear in the
    # verified folder (a rerun would find it "extra").
    local cmd=$1
    shift
    LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$BUNDLE/ansible/python ANSIBLE_CONFIG=$BUNDLE/ansible/ansible.cfg \
        python3 -m ansible "$cmd" "$@"
}

# ask's reader of the tree callback's folder (a JSON file per host, named after it): one line
# "HOST<tab>ANSWER" per host, whitespace folded; a host that failed or was unreachable, one error.
ANSWERS='import json, os, sys
prog, tree = sys.argv[1:3]
for host in sorted(os.listdir(tree)):
    with open(os.path.join(tree, host)) as f:
        r = json.load(f)
    if r.get("unreachable") or r.get("failed"):
        sys.exit(f"{prog}: error: ssh: {host}: " + " ".join(str(r.get("msg")).split()))
    print(host, " ".join(str(r["stdout"] if "stdout" in r else r["msg"]).split()), sep="\t")'

ask() {
    # PATTERN MODULE ARGS: one line "HOST<tab>ANSWER" per inventory host PATTERN matches, the
    # answer being debug's msg (worked out here, nothing connects) or raw's output (over SSH).
    # ansible-core's own tree callback writes each host's result as JSON (it is deprecated for
    # ansible-core 2.23; the bundle carries 2.19).
    local tree rc=0
    tree=$(mktemp -d)
    ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.tree \
        ANSIBLE_CALLBACK_TREE_DIR=$tree ANSIBLE_DEPRECATION_WARNINGS=0 \
        ansible_cli adhoc -i "$INVENTORY" "$1" -m "$2" -a "$3" >/dev/null || true
    python3 -c "$ANSWERS" "$PROG" "$tree" || rc=$?
    rm -rf -- "$tree"
    return $rc
}

inventory_host() {
    # The inventory's one host (the single-node playbook's) and, unless --hostname named it, the
    # name users reach it by (its appliance_hostname, or its inventory name). Its connection
    # must be remote: a local one would install on this host while install.sh names that one.
    local out lines=() answer connection
    out=$(ask all ansible.builtin.debug "msg='{{ ansible_connection | default(\"ssh\") }} {{ appliance_hostname | default(inventory_hostname) }}'") ||
        exit 1
    [[ -z $out ]] || mapfile -t lines <<<"$out"
    ((${#lines[@]} == 1)) ||
        die "inventory: $INVENTORY names ${#lines[@]} hosts; the single-node install needs exactly one"
    REMOTE_HOST=${lines[0]%%$'\t'*} answer=${lines[0]#*$'\t'}
    connection=${answer%% *}
    [[ ${connection##*.} != local ]] ||
        die "inventory: $REMOTE_HOST has ansible_connection $connection, which would install on this host: --inventory installs over SSH (to install here, leave --inventory out)"
    if [[ -z $TARGET_HOSTNAME ]]; then
        TARGET_HOSTNAME=${answer#"$connection"}
        TARGET_HOSTNAME=${TARGET_HOSTNAME# }
        dns_name "$TARGET_HOSTNAME" ||
            die "inventory: $REMOTE_HOST's appliance_hostname '$TARGET_HOSTNAME' is not a DNS name"
    fi
}

on_host() {
    # A shell command on the host installed on (this one, or the inventory's over SSH, where
    # Python may not be yet: ansible.builtin.raw); its output in HOST_OUTPUT. Never in $(...):
    # a host that cannot be reached ends install.sh here, which a subshell's exit would not.
    if [[ -z $INVENTORY ]]; then
        HOST_OUTPUT=$(bash -c "$1")
        return
    fi
    local line
    line=$(ask "$REMOTE_HOST" ansible.builtin.raw "$1") || exit 1
    HOST_OUTPUT=${line#*$'\t'}
}

on_host_succeeds() {
    # Whether a shell command succeeds on the host installed on.
    on_host "$1 && echo yes || true"
    [[ $HOST_OUTPUT == yes ]]
}

newer_than_bundle() {
    # Whether the installed version $1 (empty: none) is newer than this bundle's.
    [[ -n $1 && $1 != "$new_version" ]] &&
        [[ $(printf '%s\n%s\n' "$1" "$new_version" | sort -V | tail -n 1) == "$1" ]]
}

check_version_order() {
    # An older bundle over a newer install would run its migrations backwards: refused, before
    # any host is changed (a cluster's hosts share one database). $1: a line per host,
    # "NAME<TAB>where `current` points there" (nothing: not installed).
    local host old newer="" older=""
    while IFS=$'\t' read -r host old; do
        old=${old##*/}
        if newer_than_bundle "$old"; then
            newer+="${newer:+, }$host ($old)"
        elif [[ -n $old && $old != "$new_version" ]]; then
            older+="${older:+, }$host ($old)"
        fi
    done <<<"$1"
    if [[ -n $newer ]]; then
        ((FORCE)) || die "downgrade: $new_version is older than what runs on $newer (--force to install it anyway)"
        echo "$PROG: installing $new_version over newer versions (--force): $newer"
    fi
    [[ -z $older ]] || echo "$PROG: upgrading to $new_version: $older"
}

playbook() {
    # $1: the playbook's name; then ansible-playbook options. Run on this host, or on the
    # inventory's host over SSH.
    local name=$1 target=(-i "$TARGET_HOSTNAME," -c local)
    shift
    [[ -z $INVENTORY ]] || target=(-i "$INVENTORY")
    ansible_cli playbook "${target[@]}" -e "appliance_hostname=$TARGET_HOSTNAME" "$@" \
        "$BUNDLE/ansible/playbooks/$name.yml" ||
        die "ansible: the $name playbook failed (its output is above)"
}

bundle_choices() {
    # What the signed manifest chose for the host, as JSON members for play_vars: the
    # PostgreSQL to set up and the extra Debian packages (embedded and none in a bundle built
    # before they were recorded).
    local postgres=embedded packages=() item list
    if [[ $new_versions =~ $BUNDLE_RE ]]; then
        postgres=${BASH_REMATCH[2]} list=${BASH_REMATCH[1]}
        while [[ -n $list ]]; do
            item=${list%%, *}
            [[ $item =~ $PACKAGE_RE ]] ||
                die "manifest: $MANIFEST: bundle packages: $item is not a Debian package name"
            packages+=("$item")
            if [[ $list == *", "* ]]; then list=${list#*, }; else list=""; fi
        done
    fi
    local IFS=,
    BUNDLE_VARS="\"appliance_postgres\": \"$postgres\", \"appliance_extra_packages\": [${packages[*]}]"
}

play_vars() {
    # The playbook's variables in a file only root reads: a token or a database URL (which
    # may hold a password) is no argument, and Ansible does not print extra vars. YAML (JSON
    # with a tag): the URL is !unsafe, so Ansible passes a password holding '{{' unrendered.
    local vars token
    bundle_choices
    vars="$BUNDLE_VARS, \"appliance_pg_connection_url\": !unsafe \"$POSTGRES_URL\""
    if ((WITH_TEMPLATES)); then
        token=${CODER_SESSION_TOKEN:-}
        [[ -n $TOKEN_FILE ]] && token=$(<"$TOKEN_FILE")
        token=${token//[[:space:]]/}
        [[ $token =~ ^[A-Za-z0-9-]+$ ]] ||
            die "usage: --with-templates needs a template administrator's token: --token-file FILE or CODER_SESSION_TOKEN"
        vars+=", \"appliance_with_templates\": true, \"appliance_templates_token\": \"$token\""
    fi
    VARS_FILE=$(mktemp)
    printf '{%s}\n' "$vars" >"$VARS_FILE"
}

cluster_stage() {
    # Every host of the cluster's inventory, from this bundle, with cluster.yml; the access name
    # is the inventory's appliance_hostname, which every host's certificate names. Or, with
    # --uninstall, cluster-uninstall.yml on the same hosts.
    local answer url versions
    answer=$(ask 'coderd[0]' ansible.builtin.debug "msg='{{ appliance_hostname | default(\"\") }}'") ||
        exit 1
    TARGET_HOSTNAME=${answer#*$'\t'} REMOTE_HOST=${answer%%$'\t'*}  # clean_up's name for ssh -O exit
    dns_name "$TARGET_HOSTNAME" ||
        die "inventory: $INVENTORY needs a coderd group and appliance_hostname, the DNS name users reach the cluster by (see ansible/inventory/cluster.example.yml)"
    if ((UNINSTALL)); then
        cluster_uninstall
        return 0
    fi
    versions=$(ask all ansible.builtin.raw "readlink -- $CURRENT || true") || exit 1
    check_version_order "$versions"
    ansible_cli playbook -i "$INVENTORY" "$BUNDLE/ansible/playbooks/cluster.yml" ||
        die "ansible: the cluster playbook failed (its output is above)"
    url=https://$TARGET_HOSTNAME
    echo
    echo "coder-appliance $new_version is running at $url, on the hosts of $INVENTORY"
    echo "Next: create the first user, in a browser at $url or with $CURRENT/bin/coder login $url"
}

cluster_uninstall() {
    # Only the hosts with something of the appliance (raw: a host never installed may have no
    # Python for the playbook's modules); none at all is refused, as on one host.
    local out host answer installed=() absent=""
    out=$(ask all ansible.builtin.raw "test -e $CURRENT -o -d /etc/coder-appliance && echo yes || echo no") ||
        exit 1
    while IFS=$'\t' read -r host answer; do
        if [[ $answer == yes ]]; then installed+=("$host"); else absent+="${absent:+, }$host"; fi
    done <<<"$out"
    ((${#installed[@]})) || die "uninstall: coder-appliance is not installed on any host of $INVENTORY"
    [[ -z $absent ]] || echo "$PROG: coder-appliance is not installed on $absent: left out"
    local IFS=,
    ansible_cli playbook -i "$INVENTORY" --limit "${installed[*]}" -e "appliance_purge=$PURGE" \
        "$BUNDLE/ansible/playbooks/cluster-uninstall.yml" ||
        die "ansible: the cluster-uninstall playbook failed (its output is above)"
    if ((PURGE)); then
        echo "$PROG: removed coder-appliance, its data and its configuration from the hosts of $INVENTORY"
    else
        echo "$PROG: removed coder-appliance's services from the hosts of $INVENTORY; its data and configuration are kept (--purge removes them)"
    fi
}

install_stage() {
    # Over SSH, this host only runs Ansible: root is needed here only to install python3.
    ((EUID == 0)) || [[ -n $INVENTORY ]] || die "usage: run install.sh as root"
    local here="this host"
    trap clean_up EXIT
    if [[ -n $INVENTORY ]]; then
        command -v ssh >/dev/null || die "ssh: --inventory needs an OpenSSH client here (Debian package openssh-client)"
        SSH_SOCKETS=$(mktemp -d)
        export ANSIBLE_SSH_CONTROL_PATH_DIR=$SSH_SOCKETS
        bootstrap_python
        if ((CLUSTER)); then
            cluster_stage
            return 0
        fi
        inventory_host
        here=$REMOTE_HOST
    fi
    if ((UNINSTALL)); then
        on_host_succeeds "test -e $CURRENT -o -d /etc/coder-appliance" ||
            die "uninstall: coder-appliance is not installed on $here"
        bootstrap_python
        playbook uninstall -e "appliance_purge=$PURGE"
        if ((PURGE)); then
            echo "$PROG: removed coder-appliance, its data and its configuration from $here"
        else
            echo "$PROG: removed coder-appliance's services from $here; its data and configuration are kept (--purge removes them)"
        fi
        return 0
    fi
    on_host "readlink -- $CURRENT || true"
    check_version_order "$here"$'\t'"$HOST_OUTPUT"
    # ahosts (getaddrinfo): a name only /etc/hosts gives an IPv4 address is not asked of DNS.
    on_host_succeeds "getent ahosts $TARGET_HOSTNAME >/dev/null" ||
        echo "$PROG: warning: $TARGET_HOSTNAME does not resolve on $here; workspaces reach coderd by it (add it to DNS or /etc/hosts)" >&2
    bootstrap_python
    play_vars
    playbook single-node -e "@$VARS_FILE"
    local url=https://$TARGET_HOSTNAME
    local on=${REMOTE_HOST:+ on $REMOTE_HOST}
    echo
    echo "coder-appliance $new_version is running at $url"
    # 404 until the first user exists (curl comes with the appliance's packages).
    if on_host_succeeds "curl -fsS -o /dev/null --cacert $CA_ROOT https://127.0.0.1/api/v2/users/first 2>/dev/null"; then
        echo "Log in at $url or$on with: $CURRENT/bin/coder login $url"
    else
        echo "Next: create the first user, in a browser at $url or$on with"
        echo "    $CURRENT/bin/coder login $url"
    fi
}

main() {
    parse_args "$@"
    verify
    echo "$PROG: verified coder-appliance $new_version: ${#new_order[@]} entries, signed by ${FINGERPRINT// /}"
    if ((VERIFY_ONLY)); then exit 0; fi
    install_stage
}

# Run, not sourced (the tests source it to call its functions).
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
