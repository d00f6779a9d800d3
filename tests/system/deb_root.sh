#!/bin/sh
# A throwaway root for installing the Debian package with its maintainer scripts: this
# machine's root filesystem as the lower layer of an overlay whose changes go to STATE/upper,
# in a private mount namespace, with /proc, /dev and an empty /run; COMMAND runs chrooted in it.
# Nothing outside STATE changes. Call again with the same STATE to continue in the same root.
# Usage: deb_root.sh STATE COMMAND [ARG]...   (needs root and overlayfs)
set -eu
state="$1"
shift
mkdir -p "$state/upper" "$state/work" "$state/root"
exec unshare --mount --propagation private sh -eu -c '
  s="$1"; shift
  mount -t overlay meili-deb-root -o "lowerdir=/,upperdir=$s/upper,workdir=$s/work" "$s/root"
  mount -t proc proc "$s/root/proc"
  mount --rbind /dev "$s/root/dev"
  mount -t tmpfs -o mode=0755 tmpfs "$s/root/run"
  exec chroot "$s/root" "$@"
' deb_root "$state" "$@"
