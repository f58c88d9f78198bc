/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_url_canonicalize() on arbitrary bytes, the parser every URL from
 * a scan, a decision query or an abuse report goes through. Whatever it accepts must be
 * a fixed point (canonicalising the output returns it unchanged), must be http or https,
 * must hold no byte outside printable ASCII, and must fit VG_URL_MAX. The shortcut for
 * URLs already canonical must agree with the full parse on every input.
 *
 * vg_url_host_lenient(), which match() asks for the host of a URL that does not
 * canonicalise, on the same bytes: whenever the URL canonicalises it must give the
 * canonical URL's host, and any host it gives must be lower-case printable ASCII that
 * reads back as itself.
 */
#include <string.h>

#include "fuzz.h"
#include "report/report.h"

static void check_host(const char *host)
{
	VG_FUZZ_CHECK(host[0] != '\0');
	for (const char *p = host; *p; p++)
		VG_FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
			      !(*p >= 'A' && *p <= 'Z'));
	char url[VG_URL_MAX + 16], again[VG_URL_MAX + 1];
	int n = snprintf(url, sizeof(url), "http://%s/", host);
	VG_FUZZ_CHECK(vg_url_host_lenient(url, (size_t)n, again, sizeof(again), NULL) == 0);
	VG_FUZZ_CHECK(strcmp(host, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[VG_URL_MAX + 1], again[VG_URL_MAX + 1], lenient[VG_URL_MAX + 1];
	vg_error err;
	int rc = vg_url_canonicalize((const char *)data, size, out, sizeof(out), &err);
	int full = vg_url_canonicalize_full((const char *)data, size, again, sizeof(again), &err);
	VG_FUZZ_CHECK((rc == 0) == (full == 0));
	VG_FUZZ_CHECK(rc != 0 || strcmp(out, again) == 0);
	int lrc = vg_url_host_lenient((const char *)data, size, lenient, sizeof(lenient), &err);
	VG_FUZZ_CHECK(lrc == 0 || lrc == VG_EINVAL);
	if (lrc == 0)
		check_host(lenient);
	if (rc != 0) {
		VG_FUZZ_CHECK(rc == VG_EINVAL || rc == VG_ENOMEM);
		VG_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		return 0;
	}
	size_t n = strlen(out);
	VG_FUZZ_CHECK(n <= VG_URL_MAX);
	VG_FUZZ_CHECK(!strncmp(out, "http://", 7) || !strncmp(out, "https://", 8));
	for (size_t i = 0; i < n; i++)
		VG_FUZZ_CHECK((unsigned char)out[i] > 0x20 && (unsigned char)out[i] < 0x7f);
	VG_FUZZ_CHECK(vg_url_canonicalize_full(out, n, again, sizeof(again), &err) == 0);
	VG_FUZZ_CHECK(strcmp(out, again) == 0);
	char host[VG_URL_MAX + 1];
	VG_FUZZ_CHECK(vg_url_host(out, host, sizeof(host)) == 0);
	VG_FUZZ_CHECK(host[0] != '\0');
	VG_FUZZ_CHECK(lrc == 0 && strcmp(host, lenient) == 0);
	return 0;
}
