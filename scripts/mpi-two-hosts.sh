#!/usr/bin/env bash
# Data-parallel training across two "hosts" on one machine (issue 24): two network namespaces,
# h1 (10.77.0.1) and h2 (10.77.0.2), joined by a veth pair; Open MPI's TCP transport between them
# (btl tcp,self: no shared memory) and its launcher pointed at the namespaces: mpirun runs inside h1
# with a hostfile naming 10.77.0.1 and 10.77.0.2 (one slot each) and --mca plm_rsh_agent set to a
# small script that starts Open MPI's daemon (orted) with `ip netns exec h2` where it would use ssh.
# Each namespace also gets its own hostname (unshare --uts), as two machines have.
#
# It trains the tiny fixture (Tests/Fixtures/tiny-distilbert-sst, 32 generated texts, 10 steps,
# dropout 0.1, seed 3, --device cpu --threads 1) three ways:
#   two-hosts  mpirun (in h1) over TCP, one rank per host, batch 2 per rank
#   one-host   mpirun -np 2 on this machine (shared memory), batch 2 per rank
#   single     one process, batch 4 (what both of the above must equal)
# and checks the weights agree: max |diff| <= 1e-5, the attention key biases (k_lin.bias: no
# gradient in exact arithmetic, Adam turns rounding noise into steps of up to lr) <= 1e-3.
# Prints PASS or FAIL; exits 1 on FAIL, 2 when the setup fails. Namespaces and files are removed on exit.
#
# Needs root (ip netns, unshare), iproute2, util-linux, Open MPI (mpirun, orted) and python3.
# Usage: sudo scripts/mpi-two-hosts.sh [DISTILCL]   (default: $DISTILCL, else .build/release/distilcl)
#   KEEP=1 keeps the work folder; NS1/NS2 rename the namespaces (default h1, h2).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${DISTILCL:-$ROOT/.build/release/distilcl}}"
BIN="$(readlink -f "$BIN")"
NS1="${NS1:-h1}" NS2="${NS2:-h2}"
IP1=10.77.0.1 IP2=10.77.0.2
V1="veth-$NS1" V2="veth-$NS2"
MPIRUN="$(command -v mpirun || true)"
START=$(date +%s)

[ -x "$BIN" ] || { echo "no distilcl binary at $BIN (build it: swift build -c release, or pass its path)" >&2; exit 2; }
[ -n "$MPIRUN" ] || { echo "mpirun not found (bash scripts/setup.sh installs Open MPI)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (ip netns)" >&2; exit 2; }
for ns in "$NS1" "$NS2"; do
    if ip netns list | grep -qw "$ns"; then echo "network namespace $ns exists already (NS1/NS2 pick other names)" >&2; exit 2; fi
done

WORK="$(mktemp -d /tmp/mpi-two-hosts.XXXXXX)"
cleanup() {
    ip netns del "$NS1" 2>/dev/null || true   # the veth pair goes with its namespaces
    ip netns del "$NS2" 2>/dev/null || true
    if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the two hosts -------------------------------------------------------------------------
ip netns add "$NS1"
ip netns add "$NS2"
ip link add "$V1" type veth peer name "$V2"
ip link set "$V1" netns "$NS1"
ip link set "$V2" netns "$NS2"
ip -n "$NS1" addr add "$IP1/24" dev "$V1"
ip -n "$NS2" addr add "$IP2/24" dev "$V2"
for ns in "$NS1" "$NS2"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS1" link set "$V1" up
ip -n "$NS2" link set "$V2" up
# A TCP connection from h1 to h2 (no ping in slim images).
ip netns exec "$NS2" python3 -c '
import socket, sys
s = socket.create_server((sys.argv[1], 17777)); s.settimeout(10); s.accept()' "$IP2" &
ip netns exec "$NS1" python3 -c '
import socket, sys, time
for _ in range(50):
    try: socket.create_connection((sys.argv[1], 17777), timeout=2).close(); break
    except OSError: time.sleep(0.1)
else: sys.exit(1)' "$IP2" || { echo "FAIL: $NS1 cannot reach $IP2 over TCP" >&2; exit 2; }
wait

# The launcher's "ssh": called as `agent [options] host command...`; runs the command (a shell
# line: Open MPI's orted with its environment) in the host's namespace, under that host's name.
cat >"$WORK/netns-agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host="\$1"; shift
case "\$host" in
    $IP1|$NS1) ns=$NS1 ;;
    $IP2|$NS2) ns=$NS2 ;;
    *) echo "netns-agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts /bin/sh -c 'hostname "\$0" && exec /bin/sh -c "\$1"' "\$ns" "\$*"
EOF
chmod +x "$WORK/netns-agent"
printf '%s slots=1\n%s slots=1\n' "$IP1" "$IP2" >"$WORK/hostfile"
# Each rank of the two-hosts run notes where it runs (host name, network namespace, address), then
# becomes distilcl.
cat >"$WORK/where" <<EOF
#!/bin/sh
echo "rank \$OMPI_COMM_WORLD_RANK: host \$(hostname), netns \$(readlink /proc/self/ns/net), \$(ip -o -4 addr show scope global | awk '{print \$2, \$4}')" >"$WORK/where-\$OMPI_COMM_WORLD_RANK"
exec "\$@"
EOF
chmod +x "$WORK/where"

# --- data and recipe -----------------------------------------------------------------------
python3 - "$WORK/train.jsonl" <<'EOF'
import json, sys
words = "the film was good bad awful great acting plot boring lovely dull superb".split()
with open(sys.argv[1], "w") as f:
    for i in range(32):
        text = " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(4 + i % 9))
        f.write(json.dumps({"text": text, "label": ["NEGATIVE", "POSITIVE"][(i * 5 + 1) % 3 % 2]}) + "\n")
EOF
TRAIN=(train --model "$ROOT/Tests/Fixtures/tiny-distilbert-sst" --train "$WORK/train.jsonl"
       --max-steps 10 --dropout 0.1 --seed 3 --device cpu --threads 1)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # the daemons read it too

run() {   # name, command...: runs it, its output in WORK/name.log
    local name="$1"; shift
    local t0=$(date +%s%N)
    if ! "$@" >"$WORK/$name.log" 2>&1; then
        echo "FAIL: the $name run failed:" >&2; tail -30 "$WORK/$name.log" >&2; exit 1
    fi
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '%-10s %3d.%01d s  %s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$(grep -m1 -o '[0-9]* processes × batch [0-9]*' "$WORK/$name.log" || echo '1 process')"
}

echo "distilcl: $BIN; $("$MPIRUN" --version | head -1); hosts $NS1=$IP1, $NS2=$IP2 (veth $V1/$V2)"
run two-hosts ip netns exec "$NS1" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$NS1" \
    "$MPIRUN" --allow-run-as-root -np 2 --hostfile "$WORK/hostfile" --map-by node \
    --mca plm_rsh_agent "$WORK/netns-agent" --mca plm_rsh_no_tree_spawn 1 \
    --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    --mca pml ob1 --display-map \
    "$WORK/where" "$BIN" "${TRAIN[@]}" --batch-size 2 --out "$WORK/two-hosts"
run one-host "$MPIRUN" --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none -np 2 \
    "$BIN" "${TRAIN[@]}" --batch-size 2 --out "$WORK/one-host"
run single "$BIN" "${TRAIN[@]}" --batch-size 4 --out "$WORK/single"

# Where the two-hosts ranks ran: rank 0 in h1, rank 1 in h2 (another network namespace).
cat "$WORK/where-0" "$WORK/where-1"
echo "$V1 in $NS1: $(ip netns exec "$NS1" cat /sys/class/net/"$V1"/statistics/tx_bytes) bytes sent, $(ip netns exec "$NS1" cat /sys/class/net/"$V1"/statistics/rx_bytes) received"
grep -q "host $NS1, .* $V1 $IP1/24" "$WORK/where-0" && grep -q "host $NS2, .* $V2 $IP2/24" "$WORK/where-1" &&
    [ "$(cut -d, -f2 "$WORK/where-0")" != "$(cut -d, -f2 "$WORK/where-1")" ] || {
    echo "FAIL: the two-hosts run's ranks were not one in $NS1 and one in $NS2:" >&2; cat "$WORK/two-hosts.log" >&2; exit 1; }

# --- the weights -----------------------------------------------------------------------------
set +e
python3 - "$WORK" <<'EOF'
import json, struct, sys
from array import array
from pathlib import Path

def weights(folder):
    raw = (Path(folder) / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header, base, out = json.loads(raw[8:8 + n]), 8 + n, {}
    for name, meta in header.items():
        if name != "__metadata__" and meta["dtype"] == "F32":
            a, b = meta["data_offsets"]
            out[name] = array("f", raw[base + a:base + b])
    return out

work = Path(sys.argv[1])
ref = weights(work / "single")
ok = True
for other in ("two-hosts", "one-host"):
    w = weights(work / other)
    if w.keys() != ref.keys():
        print(f"  {other}: tensor names differ from single's"); ok = False; continue
    worst = {"other": (0.0, ""), "k_lin.bias": (0.0, "")}
    for name, x in ref.items():
        d = max((abs(p - q) for p, q in zip(x, w[name])), default=0.0)
        kind = "k_lin.bias" if name.endswith("k_lin.bias") else "other"
        worst[kind] = max(worst[kind], (d, name))
    good = worst["other"][0] <= 1e-5 and worst["k_lin.bias"][0] <= 1e-3
    ok &= good
    print(f"  {other} vs single: max |diff| {worst['other'][0]:.3g} ({worst['other'][1]}; bound 1e-5), "
          f"key biases {worst['k_lin.bias'][0]:.3g} (bound 1e-3): {'ok' if good else 'TOO FAR'}")
sys.exit(0 if ok else 1)
EOF
status=$?
set -e
echo "$(( $(date +%s) - START )) s in all"
if [ $status = 0 ]; then echo "PASS: two hosts over TCP, one host and one process trained the same weights"; exit 0; fi
echo "FAIL: the weights differ"; exit 1
