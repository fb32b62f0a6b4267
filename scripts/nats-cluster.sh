#!/usr/bin/env bash
# A 3-node JetStream cluster on 127.0.0.1 for tests, benches and demos.
#
#   scripts/nats-cluster.sh start DIR     free ports, a store dir per node,
#                                         sync_interval: always, cluster
#                                         routes; waits for a meta leader;
#                                         prints the client URLs (one line,
#                                         comma-separated; also in DIR/urls)
#   scripts/nats-cluster.sh stop DIR      stops every node of DIR (TERM, then
#                                         KILL after 10 s)
#   scripts/nats-cluster.sh kill DIR N    kill -9 node N (1..3)
#   scripts/nats-cluster.sh term DIR N    stops node N cleanly (TERM; KILL
#                                         after 10 s)
#   scripts/nats-cluster.sh restart DIR N starts node N again on its ports
#                                         and store, waits until it answers
#
# The server is the pinned one of requirements-nats.txt (installed by
# scripts/install-nats.sh; $NATS_SERVER overrides). Every node runs under
# `timeout` ($CARDLEDGER_NATS_LIFETIME_SECS, default 3600), so a cluster a
# crashed test forgot still goes away. Only nodes listed in DIR are touched.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|kill|restart DIR [N]" >&2; exit 2; }
LIFETIME="${CARDLEDGER_NATS_LIFETIME_SECS:-3600}"

server_bin() {
  if [ -n "${NATS_SERVER:-}" ]; then echo "$NATS_SERVER"; else bash "$HERE/install-nats.sh"; fi
}

free_ports() { # N free TCP ports on 127.0.0.1, held together while chosen
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

node_pid() { # the live nats-server pid of node $1, or nothing
  local f="$dir/n$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid="$(cat "$f" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && grep -q '^nats-server' "/proc/$pid/comm" && echo "$pid"
  return 0
}

launch() { # node $1
  local bin; bin="$(cat "$dir/server")"
  rm -f "$dir/n$1.pid"
  timeout -s KILL "$LIFETIME" "$bin" -c "$dir/n$1.conf" >>"$dir/n$1.log" 2>&1 </dev/null &
}

wait_http() { # node $1 answers /healthz?js-enabled-only=true within 30 s
  local port; port="$(sed -n "$1p" "$dir/http_ports")"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz?js-enabled-only=true" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "nats-cluster: node $1 did not come up (see $dir/n$1.log)" >&2
  return 1
}

meta_leader() { # the meta leader's name as node $1 sees it, or nothing
  local port; port="$(sed -n "$1p" "$dir/http_ports")"
  curl -fsS "http://127.0.0.1:$port/jsz" 2>/dev/null \
    | python3 -c 'import json,sys; print((json.load(sys.stdin).get("meta_cluster") or {}).get("leader") or "")' 2>/dev/null || true
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -n "$(node_pid 1)$(node_pid 2)$(node_pid 3)" ]; then echo "nats-cluster: $dir already runs" >&2; exit 1; fi
    server_bin > "$dir/server"
    read -r -a ports <<< "$(free_ports 9)"
    printf '%s\n' "${ports[0]}" "${ports[1]}" "${ports[2]}" > "$dir/client_ports"
    printf '%s\n' "${ports[6]}" "${ports[7]}" "${ports[8]}" > "$dir/http_ports"
    routes="nats-route://127.0.0.1:${ports[3]}, nats-route://127.0.0.1:${ports[4]}, nats-route://127.0.0.1:${ports[5]}"
    for i in 1 2 3; do
      mkdir -p "$dir/n$i"
      cat > "$dir/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${ports[$((i-1))]}
http: 127.0.0.1:${ports[$((i+5))]}
pid_file: "$dir/n$i.pid"
# a frame is at most 1,048,625 bytes (docs/format.md)
max_payload: 4MB
jetstream {
  store_dir: "$dir/n$i"
  sync_interval: always
}
cluster {
  name: cardledger
  listen: 127.0.0.1:${ports[$((i+2))]}
  routes: [ $routes ]
}
CONF
      launch "$i"
    done
    for i in 1 2 3; do wait_http "$i"; done
    for _ in $(seq 1 300); do
      if [ -n "$(meta_leader 1)" ] && [ -n "$(meta_leader 2)" ] && [ -n "$(meta_leader 3)" ]; then
        urls="$(sed 's/^/nats:\/\/127.0.0.1:/' "$dir/client_ports" | paste -sd, -)"
        echo "$urls" > "$dir/urls"
        echo "$urls"
        exit 0
      fi
      sleep 0.1
    done
    echo "nats-cluster: no meta leader after 30 s" >&2
    exit 1
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    pids=""
    for i in 1 2 3; do p="$(node_pid "$i")"; [ -n "$p" ] && pids="$pids $p"; done
    [ -z "$pids" ] && exit 0
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 100); do
      alive=""
      for p in $pids; do [ -d "/proc/$p" ] && alive="$alive $p"; done
      [ -z "$alive" ] && exit 0
      sleep 0.1
    done
    kill -KILL $alive 2>/dev/null || true
    ;;
  kill)
    n="${3:?node number}"
    p="$(node_pid "$n")"
    [ -n "$p" ] || { echo "nats-cluster: node $n is not running" >&2; exit 1; }
    kill -KILL "$p"
    for _ in $(seq 1 100); do [ -d "/proc/$p" ] || exit 0; sleep 0.05; done
    echo "nats-cluster: node $n (pid $p) survived kill -9" >&2; exit 1
    ;;
  term)
    n="${3:?node number}"
    p="$(node_pid "$n")"
    [ -n "$p" ] || { echo "nats-cluster: node $n is not running" >&2; exit 1; }
    kill -TERM "$p"
    for _ in $(seq 1 100); do [ -d "/proc/$p" ] || exit 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    ;;
  restart)
    n="${3:?node number}"
    dir="$(cd "$dir" && pwd)"
    [ -z "$(node_pid "$n")" ] || { echo "nats-cluster: node $n already runs" >&2; exit 1; }
    launch "$n"
    wait_http "$n"
    ;;
  *) echo "usage: $0 start|stop|kill|term|restart DIR [N]" >&2; exit 2 ;;
esac
