/* cmd_basics.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_basics(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'basics' is not implemented yet");
    return 2;
}
