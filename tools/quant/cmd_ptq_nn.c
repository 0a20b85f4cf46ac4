/* cmd_ptq_nn.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_ptq_nn(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'ptq_nn' is not implemented yet");
    return 2;
}
