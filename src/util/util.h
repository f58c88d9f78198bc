/* SPDX-License-Identifier: Apache-2.0
 *
 * util: the bottom of vigil's dependency order. Errors, time, logging, hex, IPv4
 * addresses, files and the request arena. Nothing here knows about images, banks or
 * HTTP; every other folder may include this header and nothing in util includes another
 * folder.
 */
#ifndef VG_UTIL_H
#define VG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_EXPORT __attribute__((visibility("default")))
#define VG_MUST_CHECK __attribute__((warn_unused_result))
#define VG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------------------
 * Fallible functions return 0 or one of these negative codes. The table in error.c
 * gives each its stable name (the API's error.code), its HTTP status and a message. */
#define VG_ERRORS(X)                                                                  \
	X(EINVAL, "invalid", 422, "invalid input")                                    \
	X(EMALFORMED, "malformed", 400, "malformed input")                            \
	X(EUNSUPPORTED, "unsupported_media", 415, "unsupported format")               \
	X(ECORRUPT, "corrupt_input", 422, "corrupt or truncated input")               \
	X(ETOOBIG, "too_large", 413, "input over the configured limit")               \
	X(ENOENT, "not_found", 404, "not found")                                      \
	X(EMETHOD, "method_not_allowed", 405, "method not allowed")                   \
	X(EEXIST, "conflict", 409, "already exists")                                  \
	X(EAUTH, "unauthorized", 401, "missing or bad token")                         \
	X(EFORBIDDEN, "forbidden", 403, "role not allowed")                           \
	X(ERATE, "rate_limited", 429, "too many requests")                            \
	X(EBUSY, "unavailable", 503, "busy: try again shortly")                       \
	X(EIO, "io_error", 500, "input/output error")                                 \
	X(ENOMEM, "out_of_memory", 500, "out of memory")                              \
	X(EINTERNAL, "internal", 500, "internal error")

enum {
	VG_OK = 0,
	VG__EBASE = -1000,
#define VG_ENUM_(sym, name, status, msg) VG_##sym,
	VG_ERRORS(VG_ENUM_)
#undef VG_ENUM_
	VG__ELAST
};

/* A caller-provided error: a code and a fixed-size message, so that reporting an error
 * never allocates. Functions taking a vg_error * accept NULL. */
typedef struct vg_error {
	int code;
	char msg[240];
} vg_error;

/* Sets *err (when not NULL) and returns code, so `return vg_error_set(...)` reads well. */
VG_EXPORT int vg_error_set(vg_error *err, int code, const char *fmt, ...) VG_PRINTF(3, 4);
VG_EXPORT const char *vg_error_name(int code);   /* "too_large"; "ok" for 0 */
VG_EXPORT const char *vg_error_message(int code); /* default text for people */
VG_EXPORT int vg_error_http_status(int code);     /* 200 for 0 */

/* ---- time: one type, int64 microseconds ---------------------------------------- */
typedef int64_t vg_usec;
VG_EXPORT vg_usec vg_time_now(void);  /* wall clock since the Unix epoch */
VG_EXPORT vg_usec vg_time_mono(void); /* monotonic, for durations */
/* Reads an RFC 3339 timestamp, exactly len bytes: YYYY-MM-DD, T (or t, or a space),
 * hh:mm:ss, optional fraction (microseconds kept), then Z or +hh:mm / -hh:mm. Years
 * 0001..9999; a leap second (:60) is the next minute's first. False, *ret untouched,
 * for anything else, such as the 31st of a 30-day month. */
VG_EXPORT bool vg_time_parse_rfc3339(const char *s, size_t len, vg_usec *ret);

/* ---- logging ----------------------------------------------------------------------
 * One line per event on stderr: `ts=... level=... event=... k=v ...`. Library folders
 * log at debug at most; content, tokens and personal data are never passed here. */
typedef enum { VG_LOG_DEBUG, VG_LOG_INFO, VG_LOG_WARN, VG_LOG_ERROR } vg_log_level;
VG_EXPORT void vg_log_set_level(vg_log_level level);
VG_EXPORT void vg_log(vg_log_level level, const char *event, const char *fmt, ...)
	VG_PRINTF(3, 4);

/* ---- hex --------------------------------------------------------------------------- */
/* Writes 2*len lower-case hex digits and a NUL to out (2*len + 1 bytes). */
VG_EXPORT void vg_hex_encode(const uint8_t *bytes, size_t len, char *out);
/* Parses exactly 2*len hex digits (either case) from s; VG_EINVAL on anything else. */
/* 0x10 | the value of a hex digit byte (either case); 0 for every other byte. */
VG_EXPORT extern const uint8_t vg_hex_digit[256];
/* A hex digit's value, or -1. */
static inline int vg_hex_value(char c)
{
	unsigned d = vg_hex_digit[(unsigned char)c];
	return d ? (int)(d & 15) : -1;
}
VG_EXPORT VG_MUST_CHECK int vg_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len);

/* ---- IPv4 addresses ------------------------------------------------------------- */
/* Parses s[0..len) as a dotted-quad IPv4 address, accepting and rejecting exactly what
 * glibc's inet_pton(AF_INET) does with those bytes as a C string (a NUL byte is
 * rejected); ret gets the address with the first part in the top byte, and is written
 * only on success. VG_EINVAL otherwise. No allocation, ~120 instructions. */
VG_EXPORT VG_MUST_CHECK int vg_ipv4_parse(const char *s, size_t len, uint32_t *ret);
/* An IPv6 address of hex groups with at most one "::" (len bytes, NUL-free) into out
 * (network order), written only on success; VG_EINVAL for everything else, including
 * forms inet_pton also accepts (an IPv4 tail): callers fall back to it. What this
 * accepts, inet_pton(AF_INET6) accepts as the same address. ~580 instructions for eight
 * full groups, where inet_pton takes ~850. */
VG_EXPORT VG_MUST_CHECK int vg_ipv6_parse(const char *s, size_t len, uint8_t out[16]);

/* ---- files ------------------------------------------------------------------------- */
/* Reads a whole file into a new malloc'd buffer (caller frees). Refuses files over
 * max_bytes with VG_ETOOBIG before reading them; VG_ENOENT, VG_EIO otherwise. */
VG_EXPORT VG_MUST_CHECK int vg_file_read(const char *path, size_t max_bytes, uint8_t **ret_data,
					 size_t *ret_len, vg_error *err);

/* ---- arena: memory for one request or batch ------------------------------------ *
 * Bump allocation in chunks, freed all at once by reset or free. cap_bytes bounds the
 * total; an allocation past it returns NULL (callers turn that into VG_ETOOBIG). */
typedef struct vg_arena vg_arena;
VG_EXPORT vg_arena *vg_arena_new(size_t cap_bytes);
VG_EXPORT void vg_arena_free(vg_arena *a);
VG_EXPORT void vg_arena_reset(vg_arena *a);
/* 16-byte aligned, uninitialised; NULL when over the cap or out of memory. */
VG_EXPORT void *vg_arena_alloc(vg_arena *a, size_t bytes);
VG_EXPORT size_t vg_arena_used(const vg_arena *a);

/* ---- configuration ----------------------------------------------------------------
 * One table of options drives parsing (defaults < file < VIGIL_* environment < --flags),
 * bounds checks, --print-config and docs/config.md. Values live in a caller's struct at
 * each option's offset: char[VG_OPT_STRING_MAX] for strings, bool for booleans, int64_t
 * for integers, bytes and durations (microseconds). */
#include <stdio.h>

#define VG_OPT_STRING_MAX 512

typedef enum { VG_OPT_STRING, VG_OPT_INT, VG_OPT_BOOL, VG_OPT_BYTES, VG_OPT_DURATION } vg_opt_type;

typedef struct vg_opt {
	const char *name; /* snake_case: flag --name-with-dashes, env VIGIL_NAME, file key name */
	vg_opt_type type;
	const char *def;  /* the default, written as a user would write it */
	int64_t min, max; /* bounds for numbers (bytes; microseconds for durations) */
	const char *unit; /* shown with the bounds */
	bool reloadable;  /* applied on SIGHUP without a restart */
	bool secret;      /* never printed */
	const char *help;
	size_t offset;    /* offsetof(the caller's struct, field) */
} vg_opt;

/* Each returns 0 or VG_EINVAL/VG_ENOENT with the offending option and its origin (file
 * and line, variable name or flag) in err. */
VG_EXPORT VG_MUST_CHECK int vg_config_defaults(const vg_opt *opts, size_t n, void *cfg, vg_error *err);
/* A file of `name = value` lines (# comments, "quoted" values), at most 1 MiB. */
VG_EXPORT VG_MUST_CHECK int vg_config_file(const vg_opt *opts, size_t n, void *cfg, const char *path,
					   vg_error *err);
/* The same from memory; name labels errors ("vigil.conf:3: ..."). */
VG_EXPORT VG_MUST_CHECK int vg_config_text(const vg_opt *opts, size_t n, void *cfg, const char *text,
					   size_t len, const char *name, vg_error *err);
VG_EXPORT VG_MUST_CHECK int vg_config_env(const vg_opt *opts, size_t n, void *cfg, vg_error *err);
/* argv[0] is skipped; every other argument must be --name[=value] (or --no-name). */
VG_EXPORT VG_MUST_CHECK int vg_config_flags(const vg_opt *opts, size_t n, void *cfg, int argc,
					    char **argv, vg_error *err);
VG_EXPORT void vg_config_print(const vg_opt *opts, size_t n, const void *cfg, FILE *out);
VG_EXPORT void vg_config_markdown(const vg_opt *opts, size_t n, FILE *out);

/* ---- small helpers ----------------------------------------------------------------- */
/* malloc/calloc that abort on failure: only for small fixed sizes (STYLE.md 3). */
VG_EXPORT void *vg_xmalloc(size_t n);
VG_EXPORT void *vg_xcalloc(size_t n, size_t size);
VG_EXPORT char *vg_xstrdup(const char *s);

/* Process-wide allocator policy for programs (not libraries) to call once at start:
 * decoders allocate and free multi-megabyte buffers per image, and glibc's default of
 * serving those with fresh mmaps costs a page fault per 4 KiB on every image. Keeping
 * them in the heap makes hashing up to 1.5x faster. */
VG_EXPORT void vg_tune_malloc(void);

/* Number of online CPUs, at least 1. */
VG_EXPORT int vg_cpu_count(void);

/* Length of the well-formed UTF-8 sequence at s (avail bytes left), 1..4, or 0: no
 * overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629 4). Its code point goes
 * to *ret_cp unless that is NULL. */
VG_EXPORT size_t vg_utf8_next(const unsigned char *s, size_t avail, unsigned *ret_cp);
/* 3 when the len bytes at p begin with a UTF-8 byte order mark, else 0. Text inputs skip
 * one at their start, as Windows tools and spreadsheet programs write it there. */
VG_EXPORT size_t vg_utf8_bom(const void *p, size_t len);
/* Writes s to out as a JSON string literal (with quotes) and a NUL, escaping as RFC 8259
 * asks; bytes that are not valid UTF-8 become U+FFFD, so the output is always valid JSON.
 * Returns the length of the whole literal (without the NUL) whatever out_size is. When
 * out is too small the literal is cut before the first character or escape that does
 * not fit and still closed, so it stays one valid JSON string; with out_size under 3
 * there is no room for "" and out gets just the NUL. 6 * len + 3 bytes always suffice. */
VG_EXPORT size_t vg_json_quote(const char *s, size_t len, char *out, size_t out_size);

#endif
