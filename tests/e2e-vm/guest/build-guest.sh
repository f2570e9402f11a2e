#!/usr/bin/env bash
# Build the e2e test guest's disk images from Debian packages, once per build
# directory (cached; safe to call from several tests at once).
#
#   build-guest.sh OUTDIR
#
# Makes, in OUTDIR:
#   guest.img           GPT raw disk, one ESP: Debian's signed shim as
#                       EFI/BOOT/BOOTX64.EFI, signed grub beside it,
#                       EFI/debian/grub.cfg, the signed Debian kernel
#                       (/vmlinuz) and a busybox initramfs (/initrd.img)
#   guest-unsigned.img  the same with the kernel's signature removed
#                       (sbattach --remove)
#   guest-badsig.img    the same with the kernel re-signed by a throwaway key
#   guest-packages.txt  "package version sha256" of each .deb used
#   debs/               the downloaded .debs (kept: a rebuild downloads nothing)
#
# The packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb`, never installed on the host (their maintainer scripts would
# touch the host's boot setup). No root, no loop devices, no mounts: the ESP
# is built with mkfs.vfat + mtools and copied into the GPT image with dd.
# See docs/guest-image.md.
set -euo pipefail
# mkfs.vfat and sfdisk live in /usr/sbin, not in a non-root user's PATH.
export PATH=$PATH:/usr/sbin:/sbin

here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 1 ]] || {
	echo "usage: build-guest.sh OUTDIR" >&2
	exit 2
}
out=$1
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)

ESP_MIB=40  # ESP size; kernel ~8 MiB, initramfs ~3 MiB, shim+grub ~3 MiB
DISK_MIB=48 # 1 MiB before the ESP, the rest for the backup GPT

log() { echo "build-guest: $*" >&2; }

# One builder at a time per OUTDIR; the others wait and reuse its result.
exec 9>"$out/.lock"
flock 9

# The signed kernel package that linux-image-amd64 points at
# (linux-image-<abi>-amd64; its -unsigned twin is a different package).
kernel_pkg()
{
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

# resolve_all: pkgs and the candidate version apt would install of each (one
# apt-cache call: each takes ~1 s on a loaded machine).
pkgs=()
resolve_all()
{
	local k p v
	k=$(kernel_pkg)
	[[ -n $k ]] || return 1
	pkgs=(shim-signed grub-efi-amd64-signed "$k" busybox-static)
	while read -r p v; do
		versions[$p]=$v
	done < <(apt-cache policy "${pkgs[@]}" 2>/dev/null |
		awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) }
		     $1 == "Candidate:" { print p, $2 }')
	for p in "${pkgs[@]}"; do
		v=${versions[$p]:-}
		[[ -n $v && $v != "(none)" ]] || return 1
	done
}

declare -A versions
if ! resolve_all; then
	if ((EUID == 0)); then
		log "apt cannot resolve the guest packages; running apt-get update"
		apt-get update -qq >&2
	fi
	resolve_all || {
		log "cannot resolve shim-signed, grub-efi-amd64-signed, the signed" \
			"kernel behind linux-image-amd64 and busybox-static with apt-cache" \
			"(run apt-get update)"
		exit 1
	}
fi
kpkg=${pkgs[2]}

# The cache key: our sources and the resolved versions.
stamp=$( (
	cat "$here/build-guest.sh" "$here/init" "$here/grub.cfg" "$here/tpmnv.c"
	for p in "${pkgs[@]}"; do echo "$p ${versions[$p]}"; done
) | sha256sum | cut -d' ' -f1)
if [[ -f $out/stamp && $(cat "$out/stamp") == "$stamp" ]] &&
	[[ -f $out/guest.img && -f $out/guest-unsigned.img && -f $out/guest-badsig.img ]]; then
	exit 0
fi
rm -f "$out/stamp"
t0=$(date +%s)

# deb_for PKG VERSION: the cached .deb of exactly that version, if any.
deb_for()
{
	local f
	for f in "$out/debs/$1"_*.deb; do
		[[ -f $f ]] || continue
		if [[ $(dpkg-deb -f "$f" Package) == "$1" &&
			$(dpkg-deb -f "$f" Version) == "$2" ]]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

declare -A debs
for p in "${pkgs[@]}"; do
	v=${versions[$p]}
	if ! f=$(deb_for "$p" "$v"); then
		log "downloading $p $v"
		# apt-get download as root warns that _apt cannot write here; the
		# download itself is fine.
		(cd "$out/debs" && apt-get download -q "$p=$v" 2>&1 |
			grep -v -e 'unsandboxed as root' -e '^Get:' -e '^Fetched' >&2 || true)
		f=$(deb_for "$p" "$v") || {
			log "apt-get download $p=$v failed"
			exit 1
		}
	fi
	debs[$p]=$f
done

work=$out/work
rm -rf "$work"
mkdir -p "$work/x" "$work/root"
x=$work/x

for p in shim-signed grub-efi-amd64-signed busybox-static; do
	dpkg-deb -x "${debs[$p]}" "$x"
done
# From the kernel package only the image and the few modules the initramfs
# loads (the package is ~70 MB unpacked to ~400 MB).
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk efivarfs)
patterns=('./boot/vmlinuz-*')
for m in "${modules[@]}"; do
	patterns+=("./lib/modules/*/$m.ko")
done
dpkg-deb --fsys-tarfile "${debs[$kpkg]}" |
	tar -x -C "$x" --wildcards --wildcards-match-slash "${patterns[@]}"

shim=$x/usr/lib/shim/shimx64.efi.signed
grub=$x/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
vmlinuz=$(echo "$x"/boot/vmlinuz-*)
for f in "$shim" "$grub" "$vmlinuz" "$x/bin/busybox"; do
	[[ -f $f ]] || {
		log "missing after unpacking: $f"
		exit 1
	}
done
# Debian's signed grub reads grub.cfg from its embedded prefix.
prefix=$(strings "$grub" | grep -m1 -x '/EFI/[A-Za-z0-9_-]*' || true)
[[ $prefix == /EFI/debian ]] || {
	log "signed grub's prefix is '$prefix', expected /EFI/debian"
	exit 1
}

# initramfs: busybox, tpmnv, the modules, /init.
r=$work/root
mkdir -p "$r/bin" "$r/lib/modules" "$r/dev" "$r/proc" "$r/sys" "$r/tmp"
cp "$x/bin/busybox" "$r/bin/busybox"
ln -s busybox "$r/bin/sh"
for m in "${modules[@]}"; do
	f=$(find "$x/lib/modules" -name "$m.ko" | head -n1)
	[[ -n $f ]] || {
		log "module $m.ko not in $kpkg"
		exit 1
	}
	cp "$f" "$r/lib/modules/$m.ko"
done
${GUEST_CC:-gcc} -static -O2 -Wall -Wextra -Werror -std=gnu11 \
	-o "$r/bin/tpmnv" "$here/tpmnv.c"
strip "$r/bin/tpmnv"
install -m 0755 "$here/init" "$r/init"
(cd "$r" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$work/initrd.img"

# make_disk VMLINUZ IMAGE
make_disk()
{
	local kernel=$1 img=$2 esp=$work/esp.img
	rm -f "$esp" "$img.tmp"
	mkfs.vfat -C -F 16 -n SVMESP -i 5356e001 "$esp" $((ESP_MIB * 1024)) >/dev/null
	export MTOOLS_SKIP_CHECK=1
	mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
	mcopy -i "$esp" "$shim" ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i "$esp" "$grub" ::/EFI/BOOT/grubx64.efi
	mcopy -i "$esp" "$here/grub.cfg" ::/EFI/debian/grub.cfg
	mcopy -i "$esp" "$kernel" ::/vmlinuz
	mcopy -i "$esp" "$work/initrd.img" ::/initrd.img

	truncate -s ${DISK_MIB}M "$img.tmp"
	sfdisk -q "$img.tmp" <<-EOF
		label: gpt
		label-id: 5356A1E0-0000-4000-8000-000000000001
		start=1MiB, size=${ESP_MIB}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=5356A1E0-0000-4000-8000-000000000002, name="ESP"
	EOF
	dd if="$esp" of="$img.tmp" bs=1M seek=1 conv=notrunc,sparse status=none
	rm -f "$esp"
	mv "$img.tmp" "$img"
}

make_disk "$vmlinuz" "$out/guest.img"

cp "$vmlinuz" "$work/vmlinuz-unsigned"
sbattach --remove "$work/vmlinuz-unsigned" >/dev/null
make_disk "$work/vmlinuz-unsigned" "$out/guest-unsigned.img"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=shieldvm throwaway" \
	-keyout "$work/throwaway.key" -out "$work/throwaway.crt" 2>/dev/null
sbsign --key "$work/throwaway.key" --cert "$work/throwaway.crt" \
	--output "$work/vmlinuz-badsig" "$work/vmlinuz-unsigned" >/dev/null 2>&1
make_disk "$work/vmlinuz-badsig" "$out/guest-badsig.img"

{
	for p in "${pkgs[@]}"; do
		echo "$p ${versions[$p]} $(sha256sum <"${debs[$p]}" | cut -d' ' -f1)"
	done
} >"$out/guest-packages.txt"
rm -rf "$work"
echo "$stamp" >"$out/stamp"
log "built $out/guest.img (+ unsigned, badsig) in $(($(date +%s) - t0)) s from" \
	"$(tr '\n' ';' <"$out/guest-packages.txt" | sed 's/ [0-9a-f]\{64\};/; /g')"
