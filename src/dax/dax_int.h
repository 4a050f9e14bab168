/*
 * dax_int.h - what the files of src/dax share: the mapping object, page
 * states, the install primitive, statistics and tunables.
 *
 * Page states of a mapping (one byte per page, under state_lock):
 *
 *   NONE  reservation, PROT_NONE anonymous: the next access faults
 *   ZERO  anonymous PROT_READ (the kernel's zero page): a hole, read
 *   RO    the device block, MAP_SHARED PROT_READ
 *   RW    the device block, MAP_SHARED writable; in a non-synchronous
 *         mapping RW means dirty (msync flushes it and makes it RO)
 *   COW   a private copy (MAP_PRIVATE written), anonymous, writable
 *   GONE  unmapped by sdx_munmap: the address is no longer ours
 *
 *   NONE --read--> ZERO | RO        NONE|ZERO|RO --write--> RW | COW
 *   RW --msync (non-sync)--> RO     ZERO|RO|RW --invalidate--> NONE
 *   COW --invalidate of a page beyond i_size (truncate)--> NONE
 *   any --munmap--> GONE
 */
#ifndef SDX_DAX_INT_H
#define SDX_DAX_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dax/dax.h"
#include "pmem/pmem.h"

enum dax_page_state { PS_NONE, PS_ZERO, PS_RO, PS_RW, PS_COW, PS_GONE };

struct dax_mapping {
	uint8_t *base;			/* page aligned */
	uint64_t npages;
	uint64_t pgoff;			/* file page of base */
	int prot;
	bool is_shared;
	bool is_map_sync;		/* MAP_SHARED_VALIDATE|MAP_SYNC */
	struct sdx_dax_file file;
	uint32_t users;			/* uses in flight, MAPPING_DYING
					   (mapping.c; atomic) */
	pthread_mutex_t state_lock;
	uint8_t *state;			/* enum dax_page_state per page */
	uint64_t live;			/* pages not GONE (registry lock) */
	struct dax_mapping *host_next;	/* mappings of the same host */
	struct sdx_statpage *page;	/* the mount's published statistics
					   (sdx_dax_set_statpage), or NULL */
};

static inline uint8_t page_state(const struct dax_mapping *m, uint64_t pg)
{
	return __atomic_load_n(&m->state[pg], __ATOMIC_RELAXED);
}

/* What sdx_dax_fault() made of an access: resolved; resolved already (the
 * page allows the access: another thread was first, or the kernel's
 * protection differs from ours); SIGBUS; not ours to resolve. */
enum dax_fault_result { DAX_FAULT_DONE, DAX_FAULT_RACED, DAX_FAULT_SIGBUS,
			DAX_FAULT_FOREIGN };

/* ---- mapping.c ---- */

/* The mapping holding @addr (page not GONE), with a use taken that keeps
 * it alive (no lock held); sdx_dax_put() ends the use. */
struct dax_mapping *sdx_dax_lookup(const void *addr, uint64_t *pg);
void sdx_dax_put(struct dax_mapping *m);
/*
 * sdx_dax_install - put pages [@pg, @pg+@n) of @m into @st (NONE, ZERO, RO
 * or RW; device states map device offset @dev_off), skipping pages whose
 * state is not in @from (a bit per state).  Context: state_lock held.
 * Return: pages installed, or -errno (the pages then fall back to NONE).
 */
long sdx_dax_install(struct dax_mapping *m, uint64_t pg, uint64_t n,
		     enum dax_page_state st, uint64_t dev_off, unsigned from);
#define PS_BIT(s) (1u << (s))
/* Make page @pg a private writable copy of @src (zeroes if NULL), unless
 * it is COW or GONE already.  state_lock held.  Return: 1, 0 or -errno. */
int sdx_dax_install_copy(struct dax_mapping *m, uint64_t pg, const void *src);
/* Kernel mappings (VMAs) inside syncdax mappings now. */
long sdx_dax_kernel_mappings(void);
/* Is the synchronous-fault guarantee on for @m (MAP_SYNC or FS_SYNC_FL)? */
bool sdx_dax_is_sync(const struct dax_mapping *m);
/*
 * sdx_dax_check_budget - keep the kernel mappings of syncdax mappings under
 * the budget (sdx_dax_config.max_mappings) and the process under
 * vm.max_map_count, before a fault installs more: when the estimate says
 * the limit may be near, count them and, if over, drop every mapping's
 * pages back to NONE (dirty ones flushed first; they refault on use).
 * Return: 0, or -ENOMEM with a sentence when even that is not enough.
 */
int sdx_dax_check_budget(void);

/* ---- fault.c ---- */

/* Tunables once; the fault handler unless it is in place. */
void sdx_dax_init(void);
/*
 * sdx_dax_fault - resolve an access to page @pg of @m (the fault path)
 * Context: a use of @m held; no syncdax lock.
 */
enum dax_fault_result sdx_dax_fault(struct dax_mapping *m, uint64_t pg,
				    bool is_write);

/*
 * sdx_dax_set_statpage - count the faults of the mapping at @addr into
 * @page (its mount's published statistics) from now on.
 */
void sdx_dax_set_statpage(void *addr, struct sdx_statpage *page);

/*
 * Statistics: the process's totals (sdx_dax_stat), and the counters of the
 * mount whose mapping this thread is faulting on (sdx_dax_fault sets
 * sdx_dax_fs_stat for the fault's duration; NULL otherwise), so what a
 * fault does in mapping.c (installs, shrinks) counts for its mount too.
 */
extern struct sdx_dax_stats sdx_dax_stat;
extern _Thread_local struct sdx_dax_stats *sdx_dax_fs_stat;
extern struct sdx_dax_config sdx_dax_cfg;
#define DAX_COUNT(field, n) do {					\
		uint64_t n_ = (n);					\
		sdx_stat_add(&sdx_dax_stat.field, n_);			\
		if (sdx_dax_fs_stat)					\
			sdx_stat_add(&sdx_dax_fs_stat->field, n_);	\
	} while (0)

/* Count what is done to mapping @m outside a fault (msync, remaps): for
 * the process and for @m's mount. */
#define DAX_COUNT_MAP(m, field, n) do {					\
		uint64_t n_ = (n);					\
		struct sdx_statpage *p_ = __atomic_load_n(&(m)->page,	\
							  __ATOMIC_RELAXED); \
		sdx_stat_add(&sdx_dax_stat.field, n_);			\
		if (p_)							\
			sdx_stat_add(&p_->dax.field, n_);		\
	} while (0)

#endif /* SDX_DAX_INT_H */
