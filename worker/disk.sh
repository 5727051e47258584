# The disk script: a kata's disk, a sparse ext2 image file attached to a loop device and
# named by a link in /dev, in a short root container with the docker host's /dev and its
# folder of disk images (ARCHITECTURE.md, "A disk per kata").
# Usage: disk.sh STEP DISKS LINKS NAME [BYTES BYTES_PER_INODE]
set -u
step=$1 disks=$2 links=$3 name=$4
image=$disks/$name.img
link=$links/$name

# The loop devices attached to the image: `losetup -a` says "/dev/loopN: OFFSET FILE".
loops() {
  losetup -a | awk -v f=" $image" \
    'substr($0, length($0) - length(f) + 1) == f { sub(/:.*/, ""); print }'
}

# Attaches the image unless it is attached, then points the link at its loop device. The
# volume mounts the link, never /dev/loopN: a freed loopN is soon another kata's.
attach() {
  [ -f "$image" ] || { echo "no disk image $image" >&2; exit 96; }
  found=$(loops)
  # One step, `losetup -f FILE`: finding a free device, then attaching it, races.
  [ -n "$found" ] || { losetup -f "$image" && found=$(loops); } || exit 1
  [ -n "$found" ] || { echo "no loop device lists $image" >&2; exit 1; }
  [ "$(printf '%s\n' "$found" | wc -l)" = 1 ] ||
    { echo "$image is attached more than once:" $found >&2; exit 98; }
  mkdir -p "$links" &&
  ln -sfn "$found" "$link.new" &&
  mv -f "$link.new" "$link"
}

# Detaches the image's loop devices, then removes the link and the image: nothing when gone.
remove() {
  for loop in $(loops); do losetup -d "$loop" || exit 1; done
  rm -f "$link" "$link.new" "$image" "$image.part"
}

case $step in
  make)  # BYTES BYTES_PER_INODE: a new empty disk, attached (an old one of the name goes)
    remove
    mkdir -p "$disks" || exit 1
    free_kib=$(df -Pk "$disks" | awk 'NR == 2 { print $4 }')
    [ "$((free_kib * 1024))" -ge "$5" ] ||
      { echo "$disks has $free_kib KiB free, less than a disk of $5 bytes" >&2; exit 97; }
    truncate -s "$5" "$image.part" &&
    mke2fs -F -q -b 4096 -m 0 -i "$6" "$image.part" >/dev/null &&
    mv -f "$image.part" "$image" &&
    attach ;;
  attach)  # the disk, attached again (after a reboot emptied /dev)
    attach ;;
  remove)
    remove ;;
  list)  # the images, links and loop devices whose name starts with NAME
    ls -d "$disks/$name"*.img "$links/$name"* 2>/dev/null
    losetup -a | grep -F "$disks/$name" || true ;;
  *) echo "disk.sh: no step $step" >&2; exit 2 ;;
esac
