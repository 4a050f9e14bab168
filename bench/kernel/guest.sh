# guest.sh - booting a guest kit of build-guest.sh under QEMU; sourced (sh)
# by the kernel benchmark (run.sh) and the kernel interop test
# (tests/interop/test_kernel.sh).
#
#   guest_boot WORKDIR SECONDS LOG APPEND [QEMU-ARG...]
#
# Boots WORKDIR/vmlinuz with WORKDIR/initrd.gz, the kernel command line
# "console=ttyS0 panic=-1 APPEND" and the caller's devices, memory and CPUs
# (QEMU-ARG...; a -serial among them is the guest's ttyS1), for at most
# SECONDS; the serial console goes to LOG (carriage returns removed), what
# QEMU itself says to LOG.qemu.  Status 0 when the guest's init ran: its
# console says "@@@ GUEST ..." (every init of ours prints that line first);
# the caller checks its own results.
#
# Accelerator: KVM when /dev/kvm is writable and a guest under it reaches
# its init, else TCG with -cpu max,monitor=off (this machine's /dev/kvm is
# a nested PVM hypervisor that boots only PVM guest kernels: QEMU aborts at
# once; without monitor=off MWAIT idling adds timer-tick stalls to every
# jbd2 commit).  The first boot decides; GUEST_ACCEL (kvm or tcg) keeps the
# choice for the caller's later boots and reports.
#
# States of GUEST_ACCEL: unset -> kvm (a KVM guest reached init)
#                        unset -> tcg (no usable KVM; that boot is rerun)

GUEST_TCG="-accel tcg,thread=multi -cpu max,monitor=off"

# guest_qemu SECONDS LOG APPEND ACCEL-ARGS -- QEMU-ARG...: one boot
guest_qemu() {
	gq_seconds=$1
	gq_log=$2
	gq_append=$3
	gq_accel=$4
	shift 5
	# shellcheck disable=SC2086
	timeout "$gq_seconds" qemu-system-x86_64 $gq_accel \
		-kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.gz" \
		-append "console=ttyS0 panic=-1 $gq_append" \
		-display none -serial file:"$gq_log.raw" "$@" \
		-monitor none -no-reboot > "$gq_log.qemu" 2>&1 || true
	tr -d '\r' < "$gq_log.raw" > "$gq_log" 2>/dev/null || : > "$gq_log"
	rm -f "$gq_log.raw"
	grep -q '^@@@ GUEST' "$gq_log"
}

guest_boot() {
	GUEST_DIR=$1
	gb_seconds=$2
	gb_log=$3
	gb_append=$4
	shift 4
	if [ -z "${GUEST_ACCEL:-}" ] && [ -w /dev/kvm ]; then
		if guest_qemu "$gb_seconds" "$gb_log" "$gb_append" \
			"-accel kvm -cpu host" -- "$@"; then
			GUEST_ACCEL=kvm
			return 0
		fi
		echo "guest: KVM did not run the guest" \
		     "($(head -n 1 "$gb_log.qemu")); falling back to TCG" >&2
	fi
	[ -n "${GUEST_ACCEL:-}" ] || GUEST_ACCEL=tcg
	if [ "$GUEST_ACCEL" = kvm ]; then
		guest_qemu "$gb_seconds" "$gb_log" "$gb_append" \
			"-accel kvm -cpu host" -- "$@"
	else
		guest_qemu "$gb_seconds" "$gb_log" "$gb_append" "$GUEST_TCG" \
			-- "$@"
	fi
}
