/* SPDX-License-Identifier: Apache-2.0 */
/* Scratch entry point: only the TPM subcommands (used while the rest of the
 * tree is being written). */
#include <stdio.h>
#include <string.h>

#include "shieldvm/cmd.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "quote") == 0)
		return cmd_quote(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "certify") == 0)
		return cmd_certify(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "credential") == 0)
		return cmd_credential(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "ekcert") == 0)
		return cmd_ekcert(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "tpm2-name") == 0)
		return cmd_tpm2_name(argc - 1, argv + 1);
	fprintf(stderr, "usage\n");
	return EXIT_USAGE;
}
