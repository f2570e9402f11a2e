/*
 * tpmnv: the test guest's vTPM persistence probe. Runs inside the guest's
 * initramfs (built with `gcc -static` at test time, no TSS in the guest).
 *
 *   tpmnv DEVICE INDEX
 *
 * Talks raw TPM 2.0 commands to DEVICE (/dev/tpm0): TPM2_NV_ReadPublic on
 * the NV index INDEX (hex, owner range 0x01000000-0x013fffff); if the index
 * is absent, TPM2_NV_DefineSpace (owner hierarchy, empty owner auth, password
 * session TPM_RS_PW) and TPM2_NV_Write of TPMNV_SIZE random bytes; if it is
 * defined but never written, the write only. Then TPM2_NV_Read. Prints
 * key=value lines for the guest report:
 *
 *   nv_state=created|existing|written
 *   nv_value=<hex>
 *
 * or, on failure, nv_state=error and nv_error=<what failed, with the TPM
 * response code>. Exit status 0 only when a value was read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define TPMNV_SIZE 16
#define TPMNV_BUF_MAX 4096

#define TPM_ST_NO_SESSIONS 0x8001
#define TPM_ST_SESSIONS 0x8002
#define TPM_CC_NV_DEFINE_SPACE 0x0000012a
#define TPM_CC_NV_WRITE 0x00000137
#define TPM_CC_NV_READ 0x0000014e
#define TPM_CC_NV_READ_PUBLIC 0x00000169
#define TPM_RH_OWNER 0x40000001
#define TPM_RS_PW 0x40000009
#define TPM_ALG_SHA256 0x000b
#define TPM_RC_SUCCESS 0x000
#define TPM_RC_NV_UNINITIALIZED 0x14a

/* TPMA_NV: ordinary index, owner or index auth may read and write, no DA. */
#define TPMA_NV_OWNERWRITE (1u << 1)
#define TPMA_NV_AUTHWRITE (1u << 2)
#define TPMA_NV_OWNERREAD (1u << 17)
#define TPMA_NV_AUTHREAD (1u << 18)
#define TPMA_NV_NO_DA (1u << 25)
#define TPMA_NV_WRITTEN (1u << 29)
#define TPMNV_ATTRS                                                   \
	(TPMA_NV_OWNERWRITE | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD | \
	 TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

struct tpmnv_buf {
	uint8_t b[TPMNV_BUF_MAX];
	size_t len;
};

static void put8(struct tpmnv_buf *c, uint8_t v)
{
	if (c->len < sizeof(c->b))
		c->b[c->len] = v;
	c->len++;
}

static void put16(struct tpmnv_buf *c, uint16_t v)
{
	put8(c, (uint8_t)(v >> 8));
	put8(c, (uint8_t)v);
}

static void put32(struct tpmnv_buf *c, uint32_t v)
{
	put16(c, (uint16_t)(v >> 16));
	put16(c, (uint16_t)v);
}

static void put_bytes(struct tpmnv_buf *c, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(c, p[i]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void cmd_begin(struct tpmnv_buf *c, uint16_t tag, uint32_t cc)
{
	c->len = 0;
	put16(c, tag);
	put32(c, 0); /* size, patched by cmd_end */
	put32(c, cc);
}

/* The authorization area: one password session with an empty password. */
static void put_pw_session(struct tpmnv_buf *c)
{
	put32(c, 9);	     /* authorizationSize */
	put32(c, TPM_RS_PW); /* sessionHandle */
	put16(c, 0);	     /* nonceCaller */
	put8(c, 1);	     /* sessionAttributes: continueSession */
	put16(c, 0);	     /* hmac (the password): empty */
}

/*
 * Send the command in c, read the response into r. Returns the TPM response
 * code, or -1 with errno set on a transport error.
 */
static long transact(int fd, struct tpmnv_buf *c, struct tpmnv_buf *r)
{
	ssize_t n;

	if (c->len > sizeof(c->b)) {
		errno = EMSGSIZE;
		return -1;
	}
	c->b[2] = (uint8_t)(c->len >> 24);
	c->b[3] = (uint8_t)(c->len >> 16);
	c->b[4] = (uint8_t)(c->len >> 8);
	c->b[5] = (uint8_t)c->len;
	n = write(fd, c->b, c->len);
	if (n < 0)
		return -1;
	if ((size_t)n != c->len) {
		errno = EIO;
		return -1;
	}
	n = read(fd, r->b, sizeof(r->b));
	if (n < 0)
		return -1;
	r->len = (size_t)n;
	if (r->len < 10 || get32(r->b + 2) != r->len) {
		errno = EPROTO;
		return -1;
	}
	return (long)get32(r->b + 6);
}

static int fail(const char *what, long rc)
{
	printf("nv_state=error\n");
	if (rc < 0)
		printf("nv_error=%s: %s\n", what, strerror(errno));
	else
		printf("nv_error=%s: TPM rc 0x%03lx\n", what,
		       (unsigned long)rc);
	return 1;
}

/* TPM2_NV_ReadPublic: 0 and *attrs when the index exists, else the rc. */
static long nv_read_public(int fd, uint32_t index, uint32_t *attrs)
{
	struct tpmnv_buf c, r;
	long rc;

	cmd_begin(&c, TPM_ST_NO_SESSIONS, TPM_CC_NV_READ_PUBLIC);
	put32(&c, index);
	rc = transact(fd, &c, &r);
	if (rc != TPM_RC_SUCCESS)
		return rc;
	/* header(10) nvPublic.size(2) nvIndex(4) nameAlg(2) attributes(4) */
	if (r.len < 22 || get16(r.b + 10) < 10 || get32(r.b + 12) != index) {
		errno = EPROTO;
		return -1;
	}
	*attrs = get32(r.b + 18);
	return 0;
}

static long nv_define(int fd, uint32_t index)
{
	struct tpmnv_buf c, r;

	cmd_begin(&c, TPM_ST_SESSIONS, TPM_CC_NV_DEFINE_SPACE);
	put32(&c, TPM_RH_OWNER);
	put_pw_session(&c);
	put16(&c, 0);  /* auth: empty */
	put16(&c, 14); /* publicInfo.size */
	put32(&c, index);
	put16(&c, TPM_ALG_SHA256);
	put32(&c, TPMNV_ATTRS);
	put16(&c, 0); /* authPolicy: empty */
	put16(&c, TPMNV_SIZE);
	return transact(fd, &c, &r);
}

static long nv_write(int fd, uint32_t index, const uint8_t *data, size_t n)
{
	struct tpmnv_buf c, r;

	cmd_begin(&c, TPM_ST_SESSIONS, TPM_CC_NV_WRITE);
	put32(&c, TPM_RH_OWNER);
	put32(&c, index);
	put_pw_session(&c);
	put16(&c, (uint16_t)n);
	put_bytes(&c, data, n);
	put16(&c, 0); /* offset */
	return transact(fd, &c, &r);
}

static long nv_read(int fd, uint32_t index, uint8_t *out, size_t n)
{
	struct tpmnv_buf c, r;
	long rc;

	cmd_begin(&c, TPM_ST_SESSIONS, TPM_CC_NV_READ);
	put32(&c, TPM_RH_OWNER);
	put32(&c, index);
	put_pw_session(&c);
	put16(&c, (uint16_t)n);
	put16(&c, 0); /* offset */
	rc = transact(fd, &c, &r);
	if (rc != TPM_RC_SUCCESS)
		return rc;
	/* header(10) parameterSize(4) data.size(2) data */
	if (r.len < 16 || get16(r.b + 14) != n || r.len < 16 + n) {
		errno = EPROTO;
		return -1;
	}
	memcpy(out, r.b + 16, n);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t value[TPMNV_SIZE];
	const char *state = "existing";
	unsigned long index;
	uint32_t attrs = 0;
	char *end;
	long rc;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: tpmnv DEVICE INDEX\n");
		return 2;
	}
	errno = 0;
	index = strtoul(argv[2], &end, 16);
	if (errno || *end || end == argv[2] || index < 0x01000000ul ||
	    index > 0x013ffffful) {
		fprintf(stderr,
			"tpmnv: index '%s' is not in 0x01000000-0x013fffff\n",
			argv[2]);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(argv[1], -1);

	rc = nv_read_public(fd, (uint32_t)index, &attrs);
	if (rc < 0)
		return fail("NV_ReadPublic", rc);
	if (rc != TPM_RC_SUCCESS) {
		/* Absent (TPM_RC_HANDLE for handle 1): define it. */
		rc = nv_define(fd, (uint32_t)index);
		if (rc != TPM_RC_SUCCESS)
			return fail("NV_DefineSpace", rc);
		state = "created";
	}
	if (!(attrs & TPMA_NV_WRITTEN)) {
		if (getrandom(value, sizeof(value), 0) != sizeof(value))
			return fail("getrandom", -1);
		rc = nv_write(fd, (uint32_t)index, value, sizeof(value));
		if (rc != TPM_RC_SUCCESS)
			return fail("NV_Write", rc);
		if (state[0] == 'e')
			state = "written";
	}
	memset(value, 0, sizeof(value));
	rc = nv_read(fd, (uint32_t)index, value, sizeof(value));
	if (rc != TPM_RC_SUCCESS)
		return fail("NV_Read", rc);
	close(fd);

	printf("nv_index=0x%08lx\nnv_state=%s\nnv_value=", index, state);
	for (size_t i = 0; i < sizeof(value); i++)
		printf("%02x", value[i]);
	printf("\n");
	return 0;
}
