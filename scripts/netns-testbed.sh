#!/usr/bin/env bash
# A two-host test bed on one machine: two network namespaces joined by a veth pair (a private
# /30), for running a sweep with the servers on one "host" and the load on the other, through
# `ip netns exec` launchers (see examples/two-namespaces.toml). Needs root and iproute2 (and
# iptables for --drop and --reset).
#
#   scripts/netns-testbed.sh up [OPTIONS]      create rm-srv (10.77.0.1) and rm-cli (10.77.0.2)
#   scripts/netns-testbed.sh down              remove them (and anything still running in them)
#   scripts/netns-testbed.sh run [OPTIONS] [HARNESS ARGS...]
#                                              up, run the sweep of examples/two-namespaces.toml
#                                              (or HARNESS ARGS), down
#   scripts/netns-testbed.sh run [OPTIONS] --matrix FILE [HARNESS ARGS...]
#                                              up, run FILE (a matrix for one machine, such as
#                                              examples/scaling.toml) with its servers in rm-srv
#                                              and its load from rm-cli, down
#
# OPTIONS (any order, before HARNESS ARGS):
#   --rate RATE  shape each direction with a token bucket (`tc qdisc … tbf rate RATE`): 1gbit, 100mbit
#   --drop P     drop a random P of the packets on the server's veth, both ways (iptables'
#                `statistic` match in rm-srv): 1% (or 0.01)
#   --reset P    answer a random P of the TCP packets arriving at the server with a reset
#                (`REJECT --reject-with tcp-reset`): the client's connection is aborted, as if the
#                server had crashed; 0.5% (or 0.005)
# Latency cannot be added: the `netem` qdisc is not available on these kernels, and this bed does
# not pretend otherwise — a veth pair adds only a few microseconds over loopback.
# HARNESS (default target/debug/harness) is the binary to run; the matrix names it too.
# --matrix copies FILE with `server_host = "srv"` and `load_hosts = ["cli"]` in its [placement]
# and the two namespaces as [[host]]s; FILE must not place anything on hosts itself. Its CPUs
# are this machine's either way: the namespaces share them (and the bed cannot tell the harness
# so, which is why a shared CPU is not flagged here as it is in one namespace).
set -euo pipefail
cd "$(dirname "$0")/.."

SRV=rm-srv CLI=rm-cli
SRV_IF=rm-veth-srv CLI_IF=rm-veth-cli
SRV_ADDR=10.77.0.1 CLI_ADDR=10.77.0.2
HARNESS=${HARNESS:-target/debug/harness}

down() {
    for ns in "$SRV" "$CLI"; do
        if ip netns list | grep -qw "$ns"; then
            # Nothing may outlive the bed: kill what still runs inside before removing it.
            for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns"
        fi
    done
}

# A probability for iptables' statistic match from `1%` or `0.01`; exits 2 on anything else.
probability() {
    local option=$1 value=$2
    if ! awk -v v="$value" 'BEGIN { n = v; if (v ~ /%$/) { n = substr(v, 1, length(v) - 1) / 100 }
                                   exit !(v ~ /^[0-9]*\.?[0-9]+%?$/ && n >= 0 && n <= 1) }'; then
        echo "$option: $value is not a probability (give 1% or 0.01, at most 100%)" >&2
        exit 2
    fi
    awk -v v="$value" 'BEGIN { n = v; if (v ~ /%$/) { n = substr(v, 1, length(v) - 1) / 100 }; printf "%.6f", n }'
}

# Loss and resets on the server's veth, from rm-srv's firewall.
faults() {
    local drop=$1 reset=$2
    [[ -z $drop && -z $reset ]] && return
    if ! command -v iptables >/dev/null; then
        echo "--drop and --reset need iptables (apt-get install iptables)" >&2
        exit 2
    fi
    if [[ -n $reset ]]; then
        ip netns exec "$SRV" iptables -w -A INPUT -i "$SRV_IF" -p tcp \
            -m statistic --mode random --probability "$reset" -j REJECT --reject-with tcp-reset
    fi
    if [[ -n $drop ]]; then
        ip netns exec "$SRV" iptables -w -A INPUT -i "$SRV_IF" -m statistic --mode random --probability "$drop" -j DROP
        ip netns exec "$SRV" iptables -w -A OUTPUT -o "$SRV_IF" -m statistic --mode random --probability "$drop" -j DROP
    fi
}

up() {
    local rate=${1:-} drop=${2:-} reset=${3:-}
    down
    ip netns add "$SRV"
    ip netns add "$CLI"
    ip link add "$SRV_IF" type veth peer name "$CLI_IF"
    ip link set "$SRV_IF" netns "$SRV"
    ip link set "$CLI_IF" netns "$CLI"
    ip -n "$SRV" addr add "$SRV_ADDR/30" dev "$SRV_IF"
    ip -n "$CLI" addr add "$CLI_ADDR/30" dev "$CLI_IF"
    for ns in "$SRV" "$CLI"; do ip -n "$ns" link set lo up; done
    ip -n "$SRV" link set "$SRV_IF" up
    ip -n "$CLI" link set "$CLI_IF" up
    if [[ -n "$rate" ]]; then
        ip netns exec "$SRV" tc qdisc add dev "$SRV_IF" root tbf rate "$rate" burst 256kb latency 50ms
        ip netns exec "$CLI" tc qdisc add dev "$CLI_IF" root tbf rate "$rate" burst 256kb latency 50ms
    fi
    ip -n "$CLI" route get "$SRV_ADDR" >/dev/null
    faults "$drop" "$reset"
    echo "test bed up: $SRV ($SRV_ADDR) <-> $CLI ($CLI_ADDR)${rate:+, shaped to $rate}${drop:+, dropping $drop of packets both ways}${reset:+, resetting $reset of TCP packets to the server}"
}

# FILE placed across the bed, written to $2: the servers in rm-srv, the load from rm-cli.
placed_matrix() {
    local file=$1 out=$2
    if grep -qE '^[[:space:]]*(server_host|load_hosts)[[:space:]]*=|^[[:space:]]*\[\[host\]\]' "$file"; then
        echo "$file places its servers or load on hosts itself; run it as it is: $0 run $file" >&2
        exit 2
    fi
    awk '
        /^[[:space:]]*\[placement\][[:space:]]*(#.*)?$/ {
            print; print "server_host = \"srv\""; print "load_hosts = [\"cli\"]"; placed = 1; next
        }
        { print }
        END {
            if (!placed) { print ""; print "[placement]"; print "server_host = \"srv\""; print "load_hosts = [\"cli\"]" }
        }' "$file" >"$out"
    cat >>"$out" <<EOF

# Added by scripts/netns-testbed.sh: the two namespaces of the bed.
[[host]]
name = "srv"
launcher = ["ip", "netns", "exec", "$SRV"]
address = "$SRV_ADDR"
harness = "$HARNESS"

[[host]]
name = "cli"
launcher = ["ip", "netns", "exec", "$CLI"]
address = "$CLI_ADDR"
harness = "$HARNESS"
EOF
}

command=${1:-}
shift || true
rate= drop= reset= matrix=
while (($#)); do
    case $1 in
        --rate) rate=${2:?--rate needs a rate}; shift 2 ;;
        --drop) drop=$(probability --drop "${2:?--drop needs a probability}"); shift 2 ;;
        --reset) reset=$(probability --reset "${2:?--reset needs a probability}"); shift 2 ;;
        --matrix) matrix=${2:?--matrix needs a file}; shift 2 ;;
        *) break ;;
    esac
done
case "$command" in
    up) up "$rate" "$drop" "$reset" ;;
    down) down ;;
    run)
        if [[ -n "$matrix" ]]; then
            placed=$(mktemp --suffix="-netns-$(basename "$matrix")")
            trap 'down; rm -f "$placed"' EXIT
            placed_matrix "$matrix" "$placed"
            up "$rate" "$drop" "$reset"
            "$HARNESS" "$placed" "$@"
            exit
        fi
        trap down EXIT
        up "$rate" "$drop" "$reset"
        if (($#)); then
            "$HARNESS" "$@"
        else
            "$HARNESS" examples/two-namespaces.toml
        fi
        ;;
    *)
        sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
