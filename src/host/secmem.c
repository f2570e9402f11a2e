/* SPDX-License-Identifier: Apache-2.0 */
#include "host/secmem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/util.h"

struct host_secmem {
	uint8_t *base; /* the mapping; this struct lives at its start */
	size_t size;   /* bytes mapped */
	size_t used;   /* bytes handed out, header included */
};

#define HDR_SIZE ((sizeof(struct host_secmem) + 15) & ~(size_t)15)

int host_secmem_new(size_t size, struct host_secmem **ret, struct err *e)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096, total;
	struct host_secmem *m;
	void *p;

	if (size > HOST_SECMEM_MAX)
		return err_set(e, E2BIG,
			       "locked memory: %zu bytes asked, "
			       "limit is %u",
			       size, HOST_SECMEM_MAX);
	total = (size + HDR_SIZE + page - 1) / page * page;
	p = mmap(NULL, total, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return err_set(e, ENOMEM,
			       "locked memory: mmap of %zu bytes: %s", total,
			       strerror(errno));
	if (mlock(p, total) < 0) {
		int r = errno;
		struct rlimit rl = { 0 };

		(void)getrlimit(RLIMIT_MEMLOCK, &rl);
		munmap(p, total);
		return err_set(e, ENOMEM,
			       "cannot lock %zu bytes of memory for keys: %s "
			       "(RLIMIT_MEMLOCK is %llu bytes)",
			       total, strerror(r),
			       (unsigned long long)rl.rlim_cur);
	}
	/* Best effort: old kernels lack these; the lock is what matters. */
	(void)madvise(p, total, MADV_DONTDUMP);
	(void)madvise(p, total, MADV_DONTFORK);
	m = p;
	m->base = p;
	m->size = total;
	m->used = HDR_SIZE;
	*ret = m;
	return 0;
}

void *host_secmem_alloc(struct host_secmem *m, size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (!m || n == 0 || need < n || need > m->size - m->used)
		return NULL;
	p = m->base + m->used;
	m->used += need;
	explicit_bzero(p, need);
	return p;
}

void host_secmem_free(struct host_secmem *m)
{
	uint8_t *base;
	size_t size;

	if (!m)
		return;
	base = m->base;
	size = m->size;
	explicit_bzero(base, size);
	munlock(base, size);
	munmap(base, size);
}

int host_secmem_protect_process(struct err *e)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return err_set(e, errno, "prctl(PR_SET_DUMPABLE): %s",
			       strerror(errno));
	return 0;
}
