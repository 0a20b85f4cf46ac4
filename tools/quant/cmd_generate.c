/* cmd_generate.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_generate(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'generate' is not implemented yet");
    return 2;
}
