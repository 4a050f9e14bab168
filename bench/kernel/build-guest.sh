#!/bin/sh
# build-guest.sh - the benchmark guest: a Debian kernel and an initramfs.
#
#   sh bench/kernel/build-guest.sh WORKDIR BENCH_BINARY...
#
# Owns WORKDIR (under build/, never committed):
#   debs/     the packages, fetched once with `apt-get download`
#   pkgs/     their contents (dpkg-deb -x; the kernel is never installed),
#             only while this script runs: it holds directories named *.d
#             (etc/ndctl.conf.d) that the Makefile's "-include" of every
#             *.d under the build directory would take for dependency files
#   root/     the initramfs tree: busybox, mkfs.ext4 and ndctl with the
#             shared libraries ldd finds for them, the kernel modules the
#             NVDIMM and ext4-DAX need (in modules.dep order), /init
#             (bench/kernel/init) and the static benchmark binaries
#   vmlinuz, initrd.gz
#
# Only the packages named here are downloaded; libraries they need that
# are not among them come from the host (both are Debian 12), found by ldd.
set -eu

W=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
PKGS="busybox-static e2fsprogs ndctl libndctl6 libdaxctl1 libcxl1
      libiniparser1 libjson-c5 libkeyutils1 libtraceevent1 libtracefs1"
# ext4 -o dax on an ACPI NFIT NVDIMM; crc32c for metadata_csum.
MODULES="nfit nd_pmem nd_btt ext4 crc32c_generic"

mkdir -p "$W/debs"
W=$(cd "$W" && pwd)
rm -rf "$W/pkgs"
trap 'rm -rf "$W/pkgs"' EXIT INT TERM

# ---- packages ----
# linux-image-amd64 is a metapackage: fetch the image it depends on.
kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1
}
KPKG=$(kernel_package)
if [ -z "$KPKG" ] && [ "$(id -u)" = 0 ]; then
	apt-get update -q >/dev/null
	KPKG=$(kernel_package)
fi
if [ -z "$KPKG" ]; then
	echo "build-guest: apt-cache knows no linux-image-amd64;" \
	     "run apt-get update" >&2
	exit 1
fi
if ! ls "$W/debs/$KPKG"_*.deb >/dev/null 2>&1; then
	echo "build-guest: downloading $KPKG and the guest tools"
	(cd "$W/debs" && apt-get download -q $KPKG $PKGS 2>&1 |
	 grep -v '^W: Download is performed unsandboxed' || true)
	ls "$W/debs/$KPKG"_*.deb >/dev/null
fi
mkdir -p "$W/pkgs"
for d in "$W"/debs/*.deb; do
	dpkg-deb -x "$d" "$W/pkgs"
done
KVER=$(ls "$W/pkgs/lib/modules" | head -n 1)
MD=$W/pkgs/lib/modules/$KVER
depmod -b "$W/pkgs" "$KVER"
cp "$W/pkgs/boot/vmlinuz-$KVER" "$W/vmlinuz"

# ---- the initramfs tree ----
R=$W/root
rm -rf "$R"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/etc" "$R/proc" "$R/sys" \
	 "$R/dev" "$R/mnt" "$R/tmp" "$R/bench" "$R/lib/modules"
cp "$W/pkgs/bin/busybox" "$R/bin/busybox"
cp "$W/pkgs/sbin/mke2fs" "$R/sbin/mkfs.ext4"
cp "$W/pkgs/usr/bin/ndctl" "$R/usr/bin/ndctl"
cp "$W/pkgs/etc/mke2fs.conf" "$R/etc/mke2fs.conf"

# Shared libraries: those of the extracted packages first, then the host's.
LIBPATH=$W/pkgs/lib/x86_64-linux-gnu:$W/pkgs/usr/lib/x86_64-linux-gnu
for bin in "$R/sbin/mkfs.ext4" "$R/usr/bin/ndctl"; do
	if LD_LIBRARY_PATH=$LIBPATH ldd "$bin" | grep -q 'not found'; then
		echo "build-guest: $bin: a library is missing:" >&2
		LD_LIBRARY_PATH=$LIBPATH ldd "$bin" >&2
		exit 1
	fi
	LD_LIBRARY_PATH=$LIBPATH ldd "$bin" |
		sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[ \t]*\(\/[^ ]*\) (.*/\1/p' |
	while read -r lib; do
		case $lib in
		"$W"/pkgs/*) dst=${lib#"$W"/pkgs} ;;
		*) dst=$lib ;;
		esac
		mkdir -p "$R$(dirname "$dst")"
		cp -L "$lib" "$R$dst"
	done
done

# Modules and their dependencies, dependencies first (modules.dep).
resolve() {
	local path dep
	path=$(grep -E "(^|/)$1\.ko(\.xz)?:" "$MD/modules.dep" | head -n 1 |
	       cut -d: -f1)
	if [ -z "$path" ]; then
		echo "build-guest: module $1 not in $KVER" >&2
		exit 1
	fi
	for dep in $(grep -E "^$path:" "$MD/modules.dep" | cut -d: -f2); do
		resolve "$(basename "$dep" | sed 's/\.ko.*//')"
	done
	grep -qx "$path" "$W/modules.list" 2>/dev/null ||
		echo "$path" >> "$W/modules.list"
}
rm -f "$W/modules.list"
for m in $MODULES; do
	resolve "$m"
done
: > "$R/lib/modules/order"
while read -r path; do
	name=$(basename "$path")
	case $name in
	*.xz) xz -dc "$MD/$path" > "$R/lib/modules/${name%.xz}"
	      name=${name%.xz} ;;
	*) cp "$MD/$path" "$R/lib/modules/$name" ;;
	esac
	echo "$name" >> "$R/lib/modules/order"
done < "$W/modules.list"

cp "$HERE/init" "$R/init"
chmod 755 "$R/init"
for b in "$@"; do
	cp "$b" "$R/bench/"
done

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$W/initrd.gz"
echo "build-guest: kernel $KVER, modules: $(tr '\n' ' ' < "$R/lib/modules/order")"
echo "build-guest: initramfs $(du -k "$W/initrd.gz" | cut -f1) KiB"
