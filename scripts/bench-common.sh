# Sourced by the bench scripts: the meilid to run (built if missing), a scratch directory $D,
# the PIDs started ($pids, stopped with $D removed on exit: only those), and a free loopback
# port (`port`).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MEILID=${MEILID:-$ROOT/target/release/meilid}
[ -x "$MEILID" ] || cargo build --release --bin meilid --manifest-path "$ROOT/Cargo.toml" >&2
D=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
