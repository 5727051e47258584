# The disk script: a kata's disk, a sparse ext2 image file attached to a loop device and
# named by a link in /dev, in a short root container with the docker host's /dev and its
# folder of disk images (ARCHITECTURE.md, "A disk per kata"). It runs after the preamble
# sandbox/scripts.py puts before it: the exit codes (EXIT_...).
# Usage: disk.sh STEP DISKS LINKS NAME [BYTES BYTES_PER_INODE | MINUTES]
set -u
step=$1 disks=$2 links=$3 name=$4
image=$disks/$name.img
link=$links/$name
TRIES=100  # attempts at a free loop device: enough for that many helpers racing at once

# The loop devices attached to the image: `losetup -a` says "/dev/loopN: OFFSET FILE".
loops() {
  losetup -a | awk -v f=" $image" \
    'substr($0, length($0) - length(f) + 1) == f { sub(/:.*/, ""); print }'
}

# Attaches the image to a free loop device. BusyBox's `losetup -f FILE` is not one step: it
# asks the kernel for a free device (LOOP_CTL_GET_FREE, which reserves nothing: callers at
# the same moment get the same one), looks at it (or at the next number, which the kernel may
# not have made), then binds that device alone. When another process binds it first (another
# kata's helper container, from any worker process; anything else on the host that uses
# loops), it fails without trying another device, with a reason that says little: "Device or
# resource busy", "No such device or address", none, or "No such file or directory". So it is
# tried again, after a short random pause: each round of racers has a winner. Not a lock
# among the helpers instead: busybox has no flock, a lock made by mkdir outlives a helper
# killed at its deadline, and no lock of ours holds off the host's other users of loops.
attach_free() {
  tries=0
  until error=$(losetup -f "$image" 2>&1); do
    tries=$((tries + 1))
    [ "$tries" -lt "$TRIES" ] || { echo "$error (tried $tries times)" >&2; return 1; }
    usleep "$(shuf -i 1000-30000 -n 1)"
  done
}

# Attaches the image unless it is attached, then points the link at its loop device. The
# volume mounts the link, never /dev/loopN: a freed loopN is soon another kata's.
attach() {
  [ -f "$image" ] || { echo "no disk image $image" >&2; return "$EXIT_NO_DISK_IMAGE"; }
  found=$(loops)
  [ -n "$found" ] || { attach_free && found=$(loops); } || return 1
  [ -n "$found" ] || { echo "no loop device lists $image" >&2; return 1; }
  [ "$(printf '%s\n' "$found" | wc -l)" = 1 ] ||
    { echo "$image is attached more than once: $(echo "$found" | tr '\n' ' ')" >&2
      return "$EXIT_ATTACHED_TWICE"; }
  mkdir -p "$links" &&
  ln -sfn "$found" "$link.new" &&
  mv -f "$link.new" "$link"
}

# Detaches the image's loop devices, then removes the link and the image: nothing when gone.
remove() {
  for loop in $(loops); do losetup -d "$loop" || return 1; done
  rm -f "$link" "$link.new" "$image" "$image.part"
}

case $step in
  make)  # BYTES BYTES_PER_INODE: a new empty disk, attached (an old one of the name goes)
    remove || exit 1
    mkdir -p "$disks" || exit 1
    free_kib=$(df -Pk "$disks" | awk 'NR == 2 { print $4 }')
    [ "$((free_kib * 1024))" -ge "$5" ] ||
      { echo "$disks has $free_kib KiB free, less than a disk of $5 bytes" >&2
        exit "$EXIT_HOST_FULL"; }
    # Whole or nothing: a disk that is not attached and linked is no kata's, and would
    # hold the host's space and a loop device for good.
    { truncate -s "$5" "$image.part" &&
      mke2fs -F -q -b 4096 -m 0 -i "$6" "$image.part" >/dev/null &&
      mv -f "$image.part" "$image" &&
      attach; } || { status=$?; remove; exit "$status"; } ;;
  attach)  # the disk, attached again (after a reboot emptied /dev)
    attach ;;
  remove)
    remove ;;
  list)  # the images (whole or part made), links and loop devices whose name starts with NAME
    ls -d "$disks/$name"*.img "$disks/$name"*.img.part "$links/$name"* 2>/dev/null
    losetup -a | grep -F "$disks/$name" || true ;;
  young)  # the images whose name starts with NAME made or written within the last $5 minutes
    find "$disks" -maxdepth 1 -name "$name*" -mmin "-$5" 2>/dev/null || true ;;
  *) echo "disk.sh: no step $step" >&2; exit "$EXIT_NO_STEP" ;;
esac
