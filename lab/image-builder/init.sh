#!/bin/busybox sh
# /init of the lab OS images' initramfs. It finds the root slot GRUB chose (by its GPT
# partition name, root=PARTLABEL=...), mounts it read-only, prints the slot and the
# version from the slot's /etc/os-release on the serial console, and powers off, so
# one QEMU run is one boot. The "panic" variant exits instead, which makes the kernel
# panic and (with panic=N) reboot: a slot that never comes up.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
slot=
label=
for x in $(cat /proc/cmdline); do
  case "$x" in
    twinroot.slot=*) slot="${x#twinroot.slot=}" ;;
    root=PARTLABEL=*) label="${x#root=PARTLABEL=}" ;;
  esac
done
if [ "$(cat /etc/twinroot-variant)" = panic ]; then
  echo "TWINROOT-PANIC slot=$slot"
  exit 1
fi
dev=
for i in $(seq 100); do
  for d in /sys/class/block/*; do
    grep -qx "PARTNAME=$label" "$d/uevent" 2>/dev/null && dev="/dev/${d##*/}"
  done
  [ -n "$dev" ] && break
  sleep 0.1
done
mkdir -p /mnt
if ! mount -t ext4 -o ro "$dev" /mnt; then
  echo "TWINROOT-NOROOT slot=$slot label=$label dev=$dev"
  exit 1
fi
. /mnt/etc/os-release
echo "TWINROOT-BOOTED slot=$slot version=$VERSION_ID"
umount /mnt
poweroff -f
