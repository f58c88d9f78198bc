/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil version`: vigil's version and the decoder versions hashes depend on.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hash/hash.h"
#include "vg_config.h"

static int run(int argc, char **argv)
{
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 1 && !json)
		return vg_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
	char decoders[256], q[300];
	vg_hash_decoder_versions(decoders, sizeof(decoders));
	if (json) {
		vg_json_quote(decoders, strlen(decoders), q, sizeof(q));
		printf("{\"version\":\"%s\",\"decoders\":%s}\n", VG_VERSION, q);
	} else {
		printf("vigil %s (%s)\n", VG_VERSION, decoders);
	}
	return VG_EXIT_OK;
}

const vg_cmd vg_cmd_version = {
	.name = "version",
	.summary = "print the version",
	.help = "usage: vigil version [--json]\n\n"
		"Prints vigil's version and the versions of the image decoders that hashes\n"
		"depend on.\n",
	.run = run,
};
