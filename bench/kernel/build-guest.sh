#!/bin/sh
# build-guest.sh - a QEMU guest kit: a Debian kernel and an initramfs.
# Used by the kernel benchmark (run.sh) and the kernel interop test
# (tests/interop/test_kernel.sh), each with its own WORKDIR and init.
#
#   sh bench/kernel/build-guest.sh [-i INIT] [-p PACKAGES] [-t TOOLS]
#                                  [-m MODULES] WORKDIR [FILE...]
#
#   -i INIT      the guest's /init (default: bench/kernel/init)
#   -p PACKAGES  Debian packages besides the kernel and busybox-static
#                (default: the benchmark's e2fsprogs and ndctl with its
#                libraries)
#   -t TOOLS     programs of those packages to put in the initramfs, each
#                PATH or PATH=DEST relative to / (default: mkfs.ext4, ndctl)
#   -m MODULES   kernel modules to load, by name; their dependencies are
#                added (default: the NVDIMM and ext4 modules)
#   FILE...      copied into /payload of the guest (the benchmark binaries)
#
# Owns WORKDIR (under the build directory, never committed):
#   debs/     the packages, each fetched once with `apt-get download`
#   pkgs/     their contents (dpkg-deb -x; the kernel is never installed),
#             only while this script runs: it holds directories named *.d
#             (etc/ndctl.conf.d) that the Makefile's "-include" of every
#             *.d under the build directory would take for dependency files
#   root/     the initramfs tree: busybox, the TOOLS with the shared
#             libraries ldd finds for them, the MODULES (in modules.dep
#             order, listed in /lib/modules/order), /init and /payload
#   vmlinuz, initrd.gz
#
# Only the packages named here are downloaded; libraries they need that
# are not among them come from the host (both are Debian 12), found by ldd.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
INIT=$HERE/init
PKGS="e2fsprogs ndctl libndctl6 libdaxctl1 libcxl1
      libiniparser1 libjson-c5 libkeyutils1 libtraceevent1 libtracefs1"
TOOLS="sbin/mke2fs=sbin/mkfs.ext4 usr/bin/ndctl"
# ext4 -o dax on an ACPI NFIT NVDIMM; crc32c for metadata_csum.
MODULES="nfit nd_pmem nd_btt ext4 crc32c_generic"
while getopts i:p:t:m: opt; do
	case $opt in
	i) INIT=$OPTARG ;;
	p) PKGS=$OPTARG ;;
	t) TOOLS=$OPTARG ;;
	m) MODULES=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
W=$1
shift

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
fetch=
for p in $KPKG busybox-static $PKGS; do
	ls "$W/debs/${p}_"*.deb >/dev/null 2>&1 || fetch="$fetch $p"
done
if [ -n "$fetch" ]; then
	echo "build-guest: downloading$fetch"
	(cd "$W/debs" && apt-get download -q $fetch 2>&1 |
	 grep -v '^W: Download is performed unsandboxed' || true)
	for p in $fetch; do
		ls "$W/debs/${p}_"*.deb >/dev/null 2>&1 || {
			echo "build-guest: could not download $p" >&2
			exit 1
		}
	done
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
	 "$R/dev" "$R/mnt" "$R/tmp" "$R/payload" "$R/lib/modules"
cp "$W/pkgs/bin/busybox" "$R/bin/busybox"
[ -e "$W/pkgs/etc/mke2fs.conf" ] && cp "$W/pkgs/etc/mke2fs.conf" "$R/etc/"

# Each tool with its shared libraries: those of the extracted packages
# first, then the host's.
LIBPATH=$W/pkgs/lib/x86_64-linux-gnu:$W/pkgs/usr/lib/x86_64-linux-gnu
for tool in $TOOLS; do
	src=${tool%%=*}
	dst=${tool#*=}
	bin=$R/$dst
	mkdir -p "$(dirname "$bin")"
	cp "$W/pkgs/$src" "$bin"
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

cp "$INIT" "$R/init"
chmod 755 "$R/init"
for f in "$@"; do
	cp "$f" "$R/payload/"
done

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$W/initrd.gz"
echo "build-guest: kernel $KVER, modules: $(tr '\n' ' ' < "$R/lib/modules/order")"
echo "build-guest: initramfs $(du -k "$W/initrd.gz" | cut -f1) KiB"
