/* cmd_qat.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_qat(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'qat' is not implemented yet");
    return 2;
}
