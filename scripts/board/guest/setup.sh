#!/bin/sh
# Runs once inside the freshly debootstrapped rootfs (chroot): a lean guest for the board test.
set -eu
echo board > /etc/hostname
echo "127.0.1.1 board" >> /etc/hosts
# A fixed machine id: no first-boot work (preset, id generation) on any boot.
echo 6b6f736b64726970706179626f617264 > /etc/machine-id
echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" > /etc/fstab
cat > /etc/modprobe.d/board.conf <<'CONF'
# A lean boot: udev need not load what the board test never uses.
blacklist pcspkr
blacklist kvm
blacklist kvm_amd
blacklist kvm_intel
blacklist powernow_k8
blacklist psmouse
blacklist serio_raw
blacklist joydev
blacklist floppy
CONF
install -m 0755 /usr/local/lib/board/agent /usr/local/sbin/board-agent
for unit in board-agent.service board-net.service api-relay.service; do
  install -m 0644 "/usr/local/lib/board/$unit" /etc/systemd/system/
done
systemctl enable board-agent.service board-net.service api-relay.service
# Lean boot: no serial getty (ttyS1 is the controller's line, ttyS0 the test's console), no timers,
# no logind (no D-Bus). getty@tty1 stays, as on a stock board: it shares the VT the display shows,
# and systemd resets that VT to text mode whenever the getty starts or stops (the pay screen test
# restarts it).
for unit in serial-getty@.service console-getty.service \
  systemd-logind.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer systemd-timesyncd.service dpkg-db-backup.timer systemd-tmpfiles-clean.timer \
  systemd-update-utmp.service systemd-update-utmp-runlevel.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
# The journal on disk, so a test can read the previous boot's log after a power cut.
mkdir -p /var/log/journal
# A small initrd: the emulated CPU unpacks every byte of it at each boot (the default one, with
# most modules, took ~20 s of a boot here). Only what mounts the root file system.
echo "MODULES=list" > /etc/initramfs-tools/conf.d/board.conf
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic > /etc/initramfs-tools/modules
update-initramfs -u -k all
