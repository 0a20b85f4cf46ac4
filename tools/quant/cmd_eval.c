/* cmd_eval.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_eval(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'eval' is not implemented yet");
    return 2;
}
